"""derive: closed-form gradients of matrix costs, by the backpropagation idea.

    import derive
    d = derive.gradient("norm(A*s - x, 'fro')^2", wrt="A")
    print(d.text, d.latex, d.numpy)
"""
from . import recipes
from .api import Derivation, check, gradient
from .errors import DeriveError, DeriveWarning, InternalError
from .api import hessian, hvp
from .jacobians import Jacobian, jacobian

__all__ = ["Derivation", "DeriveError", "DeriveWarning", "InternalError", "check", "gradient",
           "hessian", "hvp", "Jacobian", "jacobian", "recipes"]
__version__ = "0.1.0"
