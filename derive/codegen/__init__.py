"""Emitted code: one printer per target (NumPy, JAX, PyTorch, MATLAB/Octave), each spelling
the statements of the same program (``derive.program``)."""
