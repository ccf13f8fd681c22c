"""Jacobians, JVPs and VJPs of a formula of any shape: the mathematics, no printing.

F may be a scalar, a vector or a matrix. Its VJP with a cotangent G of F's shape is
the gradient of the scalar sum(G .* F): the backprop of a cost, seeded with G. Its
JVP along directions d_X is the tangent of F (``second_order.tangent``: the VJP is
linear in G, so its gradient with respect to G along d_X is J d_X; no forward rule
beside the VJPs is needed).

The Jacobian (numerator layout, docs/jacobians.md) is read off the JVP, which is linear in
d_X, by the same rules that read a Hessian off a Hessian-vector product: ``M d`` is
M, ``a .* (M d)`` is diag(a) M, and for a matrix on either side vec(L D R) =
(R^T ⊗ L) vec(D), vec(a .* D) = diag(vec(a)) vec(D), vec(v 1^T) = (1 ⊗ I) v. So
the closed forms come from rules per operation (the VJPs, the readers), never per
formula: ``diag(f'(z)) W`` for a layer, ``diag(p) - p p^T`` for softmax,
``kron(B^T, A)`` for A X B, ``-kron(inv(X)^T, inv(X))`` for inv(X). What the rules
cannot read (the transpose of a matrix direction, whose vec is a commutation
matrix) is refused with the JVP it came from; the JVP and VJP still exist.
"""
from __future__ import annotations

from dataclasses import dataclass

from .backprop import Backprop, backprop
from .second_order import NotReadable, inner, kronecker_hessian, tangent, vector_hessian
from ..expr.nodes import Expr, Symbol, Transpose
from ..expr.simplify import transpose
from ..expr.ops import apply


@dataclass
class Refused:
    """Why a Jacobian has no closed form here: the JVP it would be read from, and the
    part of it the rules cannot read."""
    jvp: Expr
    unreadable: Expr

    @property
    def commutation(self) -> bool:
        """The direction transposed: vec(d^T) is a commutation matrix times vec(d)."""
        e = self.unreadable
        return isinstance(e, Transpose) and e.shape[0] != 1 and e.shape[1] != 1


def vjps(value: Expr, variables: list[Symbol], cotangent: Symbol) -> Backprop:
    """The backprop of sum(G .* F): its gradients are the VJPs, one per variable."""
    return backprop(inner(cotangent, value), variables)


def jvp(value: Expr, variables: list[Symbol], directions: dict[str, Symbol],
        spare_name: str) -> Expr:
    """J d: the derivative of F along the directions (one per variable), F's shape.
    ``spare_name`` names the cotangent of the two reverse passes: no name of the formula."""
    return tangent(value, variables, directions, spare_name)


def jacobian_matrix(value: Expr, variable: Symbol, direction: Symbol,
                    spare_name: str) -> tuple[Expr, Expr] | Refused:
    """(to read, to compute): the Jacobian of vec(F) with respect to vec(X), size(F) x
    size(X); or Refused where no closed form in kron, vec and diag is read."""
    if value.is_scalar:
        # A scalar's Jacobian is its gradient as a row (1 x size(X)).
        gradient = backprop(value, [variable]).gradients[variable.name]
        row = transpose(apply("vec", gradient))
        return row, row
    product = jvp(value, [variable], {variable.name: direction}, spare_name)
    try:
        if value.shape[1] == 1 and direction.shape[1] == 1:
            return vector_hessian(product, direction)
        return kronecker_hessian(product, direction)
    except NotReadable as error:
        return Refused(product, error.args[0])

