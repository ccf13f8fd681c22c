"""derive: closed-form gradients of matrix costs, by the backpropagation idea.

    import derive
    d = derive.gradient("norm(A*s - x, 'fro')^2", wrt="A")
    print(d.text, d.latex, d.numpy)
"""
from .api import Derivation, check, gradient
from .errors import DeriveError
from .second_order import hessian, hvp

__all__ = ["Derivation", "DeriveError", "check", "gradient", "hessian", "hvp"]
__version__ = "0.1.0"
