"""Second order: Hessian-vector products and Hessians, forward over reverse in closed form.

The gradient is an expression in derive's own node language, so it can be
differentiated again by the same backprop. Along directions d_X (new symbols of
the variables' shapes) the Hessian-vector product is the gradient, with respect
to each variable, of the scalar

    s = sum over X of sum(grad_X .* d_X),

the derivative of the gradient along the directions. Every VJP rule builds its
result with the simplifying constructors out of nodes that have VJP rules
themselves, so the second pass needs no new rules (the derivative of step and
sign is 0, and the subgradient notes carry over).

The Hessian of a scalar or vector x is read off its product, which is linear in
d_x, by a few rules over the canonical forms (``M d`` is M, ``a .* (M d)`` is
diag(a) M, ``v (u^T d)`` is v u^T, ``sum(d)`` is 1^T); for a matrix X, acting on
vec(X), by vec(L D R) = (R^T ⊗ L) vec(D) and vec(a .* D) = diag(vec(a)) vec(D).
A bias broadcast over the columns sums a matrix per column (``columns``,
``summed_columns``). A transpose of the direction is refused: its vec form needs the
commutation matrix. Two forms come out: one to read, with diag(a) kept as a factor,
and one to compute, where diag(a) M is a .* M and no diagonal matrix is built.

The mathematics only: the result object (``derive.hvp``, ``derive.hessian``) is
``api.SecondOrder``, and its whole outputs are in ``render``.
"""
from __future__ import annotations

from typing import Callable, Iterable, NamedTuple

from .backprop import Backprop, backprop
from ..naming import Namer
from ..expr.nodes import Add, Broadcast, Const, Expr, Func, Hadamard, Identity, MatMul, ONE, Shared, Sum, Symbol, Transpose, depends_on, is_zero, postorder, zeros
from ..expr.simplify import add, broadcast, hadamard, mul, ones, summation, transpose
from ..expr.ops import apply, kron


def direction_names(taken: Iterable[str], wrt: list[str]) -> dict[str, str]:
    """``d_X`` for each variable X, lengthened with ``_`` until no name of the formula has it."""
    namer = Namer(taken)
    return {name: namer.exact(f"d_{name}") for name in wrt}


def inner(a: Expr, b: Expr) -> Expr:
    """The inner product of two arrays of one shape: a^T b for vectors, else sum(a .* b)."""
    return mul(transpose(a), b) if a.shape[1] == 1 else summation(hadamard(a, b), None)


def hessian_vector_products(result: Backprop, directions: dict[str, Symbol]) -> Backprop:
    """The second backprop: its gradients are the Hessian-vector products, one per variable."""
    s = add(*[inner(result.gradients[v.name], directions[v.name]) for v in result.wrt])
    return backprop(s, result.wrt)


def tangent(e: Expr, variables: list[Symbol], directions: dict[str, Symbol],
            cotangent: str) -> Expr:
    """The derivative of ``e`` along the directions (forward mode), by two reverse passes.

    With u a cotangent of e's shape, the VJP v_X(u) = grad_X sum(e .* u) is linear in
    u, and the tangent J d = grad_u sum over X of sum(v_X(u) .* d_X): no forward rule
    is needed beside the VJPs. ``cotangent`` names u: a name the formula does not use.
    """
    names = frozenset(v.name for v in variables)
    if not depends_on(e, names):
        return zeros(e.shape)
    u = Symbol(cotangent, e.shape)
    first = backprop(inner(e, u), variables)
    pulled = add(*[inner(first.gradients[v.name], directions[v.name]) for v in variables])
    return backprop(pulled, [u]).gradients[u.name]


# ---------------------------------------------------------------- reading the Hessian off


class NotReadable(Exception):
    """The product is not in a form the rules read a matrix off."""


def _display_diagonal(a: Expr, m: Expr) -> Expr:
    # Shared keeps diag(a) a factor of the product, as the Matrix Cookbook writes it.
    return mul(Shared(apply("diag", a)), m)


def _code_diagonal(a: Expr, m: Expr) -> Expr:
    # diag(a) M is a .* M: each row of M scaled, no diagonal matrix built. A product of
    # vectors a is one vector first (Shared), not a pass over M per factor.
    if isinstance(m, Identity):
        return apply("diag", a)
    if isinstance(m, Func) and m.op.name == "kron" and m.args[0].shape[0] == 1 \
            and isinstance(m.args[1], Identity):
        # diag(a) (r ⊗ I) = r ⊗ diag(a) for a row r (a layer's Jacobian in W): one pass
        # writing the result, where a .* kron(r, I) writes it twice; diag(a) is 1/n of it.
        return kron(m.args[0], apply("diag", a))
    return hadamard(Shared(a) if isinstance(a, Hadamard) else a, m)


class Middle(NamedTuple):
    """P diag(c_j) Q: a matrix of column j that varies with j between two fixed ones."""
    left: Expr
    middle: Expr
    right: Expr


def face_split(a: Expr | None, p: Expr, count) -> Expr:
    """The n × K·J matrix whose column k + K j is a_j .* p_k (a None: all ones)."""
    if p.shape[1] == 1:
        repeated = broadcast(p, (p.shape[0], count))
        return repeated if a is None else hadamard(a, repeated)
    tiled = kron(ones((ONE, count)), p)
    if a is None:
        return tiled
    return hadamard(kron(a, ones((ONE, p.shape[1]))), tiled)


class _Reader:
    """M with e = M d, for a column (or scalar) e linear in the column (or scalar) d."""

    def __init__(self, d: Symbol, diagonal: Callable[[Expr, Expr], Expr]) -> None:
        self.d = d
        self.n = d.shape[0]
        self.diagonal = diagonal
        self.memo: dict[Expr, bool] = {}

    def depends(self, e: Expr) -> bool:
        return depends_on(e, frozenset((self.d.name,)), self.memo)

    def matrix(self, e: Expr) -> Expr:
        rows = e.shape[0]
        if e.shape[1] != 1:
            raise NotReadable(e)
        if e == self.d:
            return Identity(self.n) if self.n != 1 else Const(ONE)
        if not self.depends(e):
            if is_zero(e):
                return zeros((rows, self.n))
            raise NotReadable(e)     # not linear: a constant term
        if isinstance(e, Add):
            return self.terms([t if t.shape == e.shape else Broadcast(t, e.shape)
                               for t in e.terms])
        if isinstance(e, Broadcast) and e.arg.is_scalar:
            return mul(ones((rows, ONE)), self.matrix(e.arg))
        if isinstance(e, MatMul):
            return self.product(e)
        if isinstance(e, Hadamard):
            return self.terms([e])
        if isinstance(e, Transpose) and isinstance(e.arg, (Add, Hadamard)):
            rebuilt = add if isinstance(e.arg, Add) else hadamard
            pushed = rebuilt(*[transpose(t) for t in e.arg.children])
            if not isinstance(pushed, Transpose):
                return self.matrix(pushed)
        if isinstance(e, Sum) and e.axis is None and e.arg.shape[1] == 1:
            if isinstance(e.arg, Hadamard):         # sum(a .* F) = a^T F
                inside, others = self.split(e.arg)
                return mul(transpose(hadamard(*others)), self.matrix(inside))
            return mul(ones((ONE, e.arg.shape[0])), self.matrix(e.arg))   # sum(F) = 1^T F
        if isinstance(e, Sum) and e.axis == 1:      # a bias broadcast over the columns
            return add(*[self.summed_columns(*term, e.arg.shape[1])
                         for term in self.columns(e.arg)])
        raise NotReadable(e)

    # Column j of a matrix F linear in d, broadcast over the columns (a bias), is
    # c diag(a_j) M diag(b_j) d: terms (c, A or None, M, B or None), a_j column j of A;
    # or, with M None, c u_j v_j^T d (softmax's p_j p_j^T): terms (c, U, None, V);
    # or, with M a Middle(P, C, Q), c diag(a_j) P diag(c_j) Q diag(b_j) d (the second
    # layer's f'' between W2^T and W2). The sum over the columns, sum_j diag(a_j) M
    # diag(b_j), is M .* (A B^T); of the outer products, U V^T; of the middles,
    # Z_A diag(vec(C)) Z_B^T with the face-splitting products of summed_middles.

    def columns(self, e: Expr) -> list[tuple[Expr, Expr | None, Expr, Expr | None]]:
        if isinstance(e, Broadcast) and e.arg.shape[1] == 1 and e.arg.shape[0] == e.shape[0]:
            return [(Const(ONE), None, self.matrix(e.arg), None)]
        if not self.depends(e):
            if is_zero(e):
                return []
            raise NotReadable(e)
        if isinstance(e, Add):
            return [term for t in e.terms for term in self.columns(
                t if t.shape == e.shape else Broadcast(t, e.shape))]
        if isinstance(e, Broadcast) and e.arg.shape[0] == 1:   # a row repeated: 1 v_j^T d
            out = []
            for c, left, m, right in self.columns(e.arg):
                if m is not None:
                    raise NotReadable(e)
                out.append((c, broadcast(left, e.shape), None, right))
            return out
        if isinstance(e, Sum) and e.axis == 0:       # column sums: 1^T diag(a_j) M d
            k = e.shape[1]
            out = []
            for c, left, m, right in self.columns(e.arg):
                if isinstance(m, Identity):          # diag(a_j) diag(b_j) = diag(a_j .* b_j)
                    left = hadamard(*[f for f in (left, right) if f is not None]) \
                        if left is not None or right is not None else None
                    right = None
                if m is None or isinstance(m, Middle):
                    raise NotReadable(e)
                a = left if left is not None else ones(e.arg.shape)
                v = mul(transpose(m), a)           # 1^T diag(a_j) M diag(b_j) = (b_j .* M^T a_j)^T
                out.append((c, ones((ONE, k)), None, v if right is None else hadamard(right, v)))
            return out
        if isinstance(e, Hadamard):
            inside, others = self.split(e)
            a = broadcast(hadamard(*others), e.shape)
            out = []
            for c, left, m, right in self.columns(inside):
                if left is None and isinstance(m, Identity):
                    out.append((c, None, m, a if right is None else hadamard(a, right)))
                else:
                    out.append((c, a if left is None else hadamard(a, left), m, right))
            return out
        if isinstance(e, MatMul):
            inside = [f for f in e.factors if self.depends(f)]
            chain = list(e.chain)
            if len(inside) != 1 or inside[0].is_scalar or chain[-1] is not inside[0]:
                raise NotReadable(e)
            scale = mul(Const(e.coeff), *e.scalars)
            p = mul(*chain[:-1]) if len(chain) > 1 else None
            out = []
            for c, left, m, right in self.columns(inside[0]):
                c = mul(scale, c)
                if m is None:                    # P u_j v_j^T
                    out.append((c, left if p is None else mul(p, left), m, right))
                elif p is None:
                    out.append((c, left, m, right))
                elif isinstance(m, Middle):      # P diag(a_j) P' diag(c_j) Q: a second middle
                    if left is not None:
                        raise NotReadable(e)
                    out.append((c, None, Middle(mul(p, m.left), m.middle, m.right), right))
                elif left is None:
                    out.append((c, None, mul(p, m), right))
                elif isinstance(m, Identity):    # P diag(a_j) I diag(b_j) = P diag(a_j .* b_j)
                    out.append((c, None, p, left if right is None else hadamard(left, right)))
                elif left.shape[0] == 1:         # a_j a number: s_j P (b_j .* M^T)^T, an outer product
                    v = broadcast(transpose(m), (m.shape[1], left.shape[1]))
                    out.append((c, mul(p, left), None, v if right is None else hadamard(right, v)))
                else:
                    out.append((c, None, Middle(p, left, m), right))
            return out
        raise NotReadable(e)

    def summed_columns(self, c: Expr, left: Expr | None, m: Expr, right: Expr | None,
                       count) -> Expr:
        """sum_j c diag(a_j) M diag(b_j): M .* (A B^T), diag(A 1) M, M diag(B 1), count M;
        sum_j c u_j v_j^T: c U V^T."""
        if m is None:
            return mul(c, left, transpose(right))
        if isinstance(m, Middle):
            return mul(c, self.summed_middles(left, m, right))
        if left is not None and right is not None:
            if isinstance(m, Identity):
                return mul(c, self.diagonal(summation(hadamard(left, right), 1), m))
            return mul(c, hadamard(m, mul(left, transpose(right))))
        if left is not None:
            return mul(c, self.diagonal(summation(left, 1), m))
        if right is not None:
            return mul(c, transpose(self.diagonal(summation(right, 1), transpose(m))))
        return mul(c, Const(count), m)

    def summed_middles(self, left: Expr | None, m: "Middle", right: Expr | None) -> Expr:
        """sum_j diag(a_j) P diag(c_j) Q diag(b_j) = Z_A diag(vec(C)) Z_B^T, where column
        k + K j of Z_A is a_j .* P[:, k] (K = P's columns): Z_A = kron(A, 1^T) .* kron(1^T, P),
        the face-splitting (transposed Khatri-Rao) product; Z_B likewise of B and Q^T."""
        count = m.middle.shape[1]
        zl = face_split(left, m.left, count)
        zr = face_split(right, transpose(m.right), count)
        return mul(zl, self.diagonal(apply("vec", m.middle), transpose(zr)))

    def terms(self, terms: list[Expr]) -> Expr:
        """The matrix of a sum; a .* F + b .* F is one diag(a + b) M_F."""
        weights: dict[Expr, list[tuple[Expr, Expr]]] = {}   # F -> (c, a) of each c a .* F
        others = []
        for t in terms:
            scale, body = Const(ONE), t
            if isinstance(t, MatMul) and len(t.chain) == 1:
                scale, body = mul(Const(t.coeff), *t.scalars), t.chain[0]
            if isinstance(body, Hadamard):
                inside, rest = self.split(body)
                weights.setdefault(inside, []).append((scale, hadamard(*rest)))
            else:
                others.append(t)
        diagonals = []
        for f, pairs in weights.items():
            if len(pairs) == 1:      # the scale stays outside: -diag(s) V^T ..., not diag(-s)
                (scale, a), = pairs
                diagonals.append(mul(scale, self.weighted(a, f)))
            else:
                diagonals.append(self.weighted(add(*[mul(scale, a) for scale, a in pairs]), f))
        return add(*[self.matrix(t) for t in others], *diagonals)

    def weighted(self, a: Expr, f: Expr) -> Expr:
        """The matrix of a .* F: diag(a) M_F."""
        return self.diagonal(a, self.matrix(f))

    def split(self, e: Hadamard) -> tuple[Expr, list[Expr]]:
        """(the factor linear in d, the others) of a .* F."""
        inside = [f for f in e.factors if self.depends(f)]
        if len(inside) != 1 or inside[0].shape != e.shape:
            raise NotReadable(e)
        return inside[0], [f for f in e.factors if f is not inside[0]]

    def product(self, e: MatMul) -> Expr:
        inside = [i for i, f in enumerate(e.factors) if self.depends(f)]
        if len(inside) != 1:
            raise NotReadable(e)
        f = e.factors[inside[0]]
        others = e.factors[:inside[0]] + e.factors[inside[0] + 1:]
        scale = Const(e.coeff)
        if f.is_scalar:                      # v (u^T d) = (v u^T) d
            return mul(scale, *others, self.matrix(f))
        chain = list(e.chain)
        k = chain.index(f)
        scalars = e.scalars
        if k == len(chain) - 1:              # P F: P times the matrix of F
            return mul(scale, *scalars, *chain[:-1], self.matrix(f))
        if k == 0 and e.is_scalar:           # r^T Q, a number: Q^T r
            return mul(scale, *scalars, transpose(mul(*chain[1:])), self.matrix(transpose(f)))
        raise NotReadable(e)


def vector_hessian(product: Expr, d: Symbol) -> tuple[Expr, Expr]:
    """(to read, to compute): the Hessian of a scalar or vector variable, from its product."""
    return (_Reader(d, _display_diagonal).matrix(product),
            _Reader(d, _code_diagonal).matrix(product))


class _VecReader(_Reader):
    """K with vec(e) = K vec(d), for a matrix e linear in the matrix d (columns stacked):
    vec(L F R) = (R^T ⊗ L) vec(F), vec(a .* F) = diag(vec(a)) vec(F)."""

    def matrix(self, e: Expr) -> Expr:
        rows, cols = self.d.shape
        if e == self.d:
            return Identity(rows * cols)
        if not self.depends(e):
            if is_zero(e):
                return zeros((e.shape[0] * e.shape[1], rows * cols))
            raise NotReadable(e)
        if isinstance(e, Add):
            return self.terms([t if t.shape == e.shape else Broadcast(t, e.shape)
                               for t in e.terms])
        if isinstance(e, Hadamard):
            return self.terms([e])
        m, k = e.shape
        if isinstance(e, Transpose) and (m == 1 or k == 1):      # vec(v^T) = vec(v)
            return self.matrix(e.arg)
        if isinstance(e, Broadcast):
            inner = self.matrix(e.arg)
            if e.arg.is_scalar:                                  # vec(s 1 1^T) = 1 s
                return mul(ones((m * k, ONE)), inner)
            if e.arg.shape[1] == 1:                              # vec(v 1^T) = (1 ⊗ I) v
                return mul(kron(ones((k, ONE)), Identity(m)), inner)
            return mul(kron(Identity(k), ones((m, ONE))), inner)  # vec(1 r) = (I ⊗ 1) vec(r)
        if isinstance(e, Sum):
            inner = self.matrix(e.arg)
            m, k = e.arg.shape
            if e.axis is None:                                   # sum(F) = 1^T vec(F)
                return mul(ones((ONE, m * k)), inner)
            if e.axis == 0:                                      # sum(F, 1) = (I ⊗ 1^T) vec(F)
                return mul(kron(Identity(k), ones((ONE, m))), inner)
            return mul(kron(ones((ONE, k)), Identity(m)), inner)  # sum(F, 2) = (1^T ⊗ I) vec(F)
        if isinstance(e, MatMul):
            inside = [f for f in e.factors if self.depends(f)]
            if len(inside) != 1:
                raise NotReadable(e)
            f = inside[0]
            if f.is_scalar:                                      # vec(P s) = vec(P) s
                rest = [g for g in e.factors if g is not f]
                return mul(Const(e.coeff), apply("vec", mul(*rest)), self.matrix(f))
            chain = list(e.chain)
            k = chain.index(f)
            left = mul(*chain[:k]) if k else Identity(f.shape[0])
            right = transpose(mul(*chain[k + 1:])) if k + 1 < len(chain) else Identity(f.shape[1])
            return mul(Const(e.coeff), *e.scalars, kron(right, left), self.matrix(f))
        raise NotReadable(e)

    def weighted(self, a: Expr, f: Expr) -> Expr:
        return self.diagonal(apply("vec", broadcast(a, f.shape)), self.matrix(f))


def transposes(product: Expr, d: Symbol) -> bool:
    """Whether the product has d^T (a matrix d): vec(d^T) = K vec(d), K the commutation matrix."""
    return d.shape[1] != 1 and d.shape[0] != 1 and any(
        isinstance(node, Transpose) and node.arg == d for node in postorder([product]))


def kronecker_hessian(product: Expr, d: Symbol) -> tuple[Expr, Expr]:
    """(to read, to compute): the Hessian of a matrix variable, acting on vec(X)."""
    return (_VecReader(d, _display_diagonal).matrix(product),
            _VecReader(d, _code_diagonal).matrix(product))




# A closed form is for reading and for fast code: the product of a chain of n matrices
# with a direction has n^2 terms of n factors (sum(A*(A*(...x))) with 40 A: 128,000).
MAX_WRITTEN = 50_000


def written_size(roots: list[Expr]) -> int:
    """How many operations the expressions have written out as trees (shared parts repeated)."""
    size: dict[Expr, int] = {}
    for node in postorder(roots):
        size[node] = 1 + sum(size[c] for c in node.children)
    return sum(size[r] for r in roots)
