"""Front ends: the formula text (tokens, syntax), a SymPy expression, declarations and kinds -> one expression."""
