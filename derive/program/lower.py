"""From expression trees to statements: what is computed once, and in what order.

A node gets a statement of its own when it is used more than once and is not
free to recompute (a name, a constant, a transposed name), when it is a long
sum (Python's compiler recurses on a long chain of ``+``: it is accumulated term
by term over statements, t1 = a + b; t1 += c; ...), when both a root
and its reciprocal are needed (one root, then 1 / root), or when softmax and
logsumexp of the same z share one pass of exp. Everything else stays inside
its user's expression, which the printer spells in one line.
"""
from __future__ import annotations

from ..expr.nodes import HALF, ONE, SCALAR, Add, Broadcast, Const, Expr, Func, Hadamard, Identity, MatMul, Power, Symbol, Transpose, postorder, split_power
from ..expr.simplify import add, mul, neg, power
from ..expr.ops import lookup
from .statements import Output, Program, Statement, Target, Var

LONG_SUM = 32


class MissingDimension(LookupError):
    """A dimension the code needs that no argument's shape gives."""

    def __init__(self, dim) -> None:
        super().__init__(str(dim))
        self.dim = dim


def lower(outputs: list[Output], parameters: list[Var], target: Target,
          inputs: dict[Expr, Var] | None = None, hints: dict[Expr, str] | None = None,
          provided_dims: dict | None = None) -> Program:
    """The program computing ``outputs`` from the parameters (and ``inputs``: nodes already
    computed, as prepared values are); ``hints`` names nodes after the formula's definitions."""
    return _Lowering(parameters, target, inputs or {}, hints or {}).run(outputs,
                                                                       provided_dims or {})


class _Lowering:
    def __init__(self, parameters: list[Var], target: Target, inputs: dict[Expr, Var],
                 hints: dict[Expr, str]) -> None:
        self.parameters = parameters
        self.target = target
        self.bound: dict[Expr, Var] = {v.source: v for v in parameters}
        self.bound.update(inputs)
        self.hints = hints
        self.statements: list[Statement] = []

    def run(self, outputs: list[Output], provided_dims: dict) -> Program:
        order = postorder([o.expr for o in outputs], lambda n: n not in self.bound)
        uses: dict[Expr, int] = {}
        for node in order:
            for child in node.children:
                uses[child] = uses.get(child, 0) + 1
        for out in outputs:
            uses[out.expr] = uses.get(out.expr, 0) + 1
        # an output's long sum is accumulated into the output itself; the value's into a
        # temporary, which the value then converts (float(t1))
        accumulated = {o.expr for o in outputs if o.name != "value"}
        shared = [n for n in order if (uses.get(n, 0) > 1 and not _cheap(n)
                                       or _long_sum(n) and n not in accumulated)
                  and n not in self.bound]
        pairs = _softmax_pairs(order)
        shared += [n for pair in pairs.values() for n in pair if n not in shared]
        # in the order of the tree; a root right after its base, before what divides by it
        for node in _with_square_roots(order, shared):
            if node not in self.bound:
                self.define(node, pairs)
        returns: list[Var] = []
        for out in outputs:
            # an output may be a view of a temporary (grad_x = t1): it keeps that array alive
            var = Var(out.expr.shape, "output", out.name,
                      *self.target.aliases(out.expr, self.bound))
            if self.shares_memory(var, returns):
                # the caller's array, or another output's: a caller updating one gradient in
                # place would change their data or the other gradient (the printer copies)
                var.base, var.readonly = None, False
                self.statements.append(Statement("assign", (var,), out.expr, params=("copy",)))
            else:
                self.statements += [Statement("assign", (var,), out.expr)] \
                    if out.name == "value" else self.assignment(var, out.expr)
            returns.append(var)
        program = Program(self.parameters, [], self.bound, {}, returns, self.target)
        program.statements = self.checks() + self.dimensions(program, provided_dims) \
            + self.statements
        return program

    @staticmethod
    def shares_memory(var: Var, returns: list[Var]) -> bool:
        """Whether an output would be an argument's array or one returned before it."""
        owner = var.array
        return owner is not var and (owner.role in ("parameter", "prepared")
                                     or any(r.array is owner for r in returns))

    def define(self, node: Expr, pairs: dict) -> None:
        """The statement(s) computing ``node``; bind it to its variable."""
        pair = next((p for p in pairs.values() if node in p), None)
        if pair:
            softmax, lse = pair
            targets = (self.new(softmax), self.new(lse))
            self.statements.append(Statement("softmax_logsumexp", targets, softmax.arg,
                                             params=(lse.params[0],)))
            self.bound[softmax], self.bound[lse] = targets
            return
        var = self.new(node)
        self.statements += self.assignment(var, node)
        self.bound[node] = var

    def new(self, node: Expr, hint: str = "t") -> Var:
        base, readonly = self.target.aliases(node, self.bound)
        return Var(node.shape, "temporary", self.hints.get(node, hint), base, readonly)

    # ------------------------------------------------------------ statements of one value
    def assignment(self, var: Var, e: Expr) -> list[Statement]:
        """``var = e``; a sum or an elementwise product of arrays is accumulated in place
        into its first operand when that is a fresh array of the full shape."""
        operands = e.terms if isinstance(e, Add) else \
            multiply_first(e.factors) if isinstance(e, Hadamard) else None
        if _long_sum(e):
            # start from a sum of two, a fresh value, whatever the first term is
            first, operands = add(*e.terms[:2]), list(e.terms[2:])
        elif self.target.accumulates and operands and var.kind != "scalar" \
                and self.fresh(operands[0]) and operands[0].shape == e.shape:
            first, operands = operands[0], list(operands[1:])
        else:
            return [Statement("assign", (var,), e)]
        var.base, var.readonly = None, False   # the first operand is a fresh array
        out = [Statement("assign", (var,), first)]
        for operand in operands:
            if isinstance(e, Add):
                operator, operand = ("-=", neg(operand)) if self.subtracted(operand) \
                    else ("+=", operand)
                scaled = self.scaled_array(operand, e.shape) if self.target.accumulates \
                    else None
                if scaled:
                    # c * (s / r): one new array, scaled in place, then added
                    scale, array = scaled
                    term = Var(array.shape, "temporary", f"{var.hint}_term", suffix="") \
                        if var.role == "output" else Var(array.shape, "temporary", "t")
                    out += [Statement("assign", (term,), array),
                            Statement("update", (term,), scale, "*="),
                            Statement("update", (var,), None, operator, reads_vars=(term,))]
                    continue
            else:
                below = divisor(operand, self.bound) if operand not in self.bound else None
                operator, operand = ("/=", below) if below is not None else ("*=", operand)
            out.append(Statement("update", (var,), operand, operator))
        return out

    def fresh(self, e: Expr) -> bool:
        """Whether the code of e makes a new array (one we may then update in place)."""
        if e in self.bound or isinstance(e, (Symbol, Const, Identity, Broadcast)):
            return False
        base, readonly = self.target.aliases(e, self.bound)
        if base is not None or readonly:
            return False
        if isinstance(e, MatMul):
            return len(e.chain) >= 2 or bool(e.scalars) or e.coeff != 1
        return True

    def subtracted(self, term: Expr) -> bool:
        """Whether a term of a sum is added as ``- (its negation)``."""
        return term not in self.bound and (
            isinstance(term, MatMul) and term.coeff.could_extract_minus_sign()
            or isinstance(term, Const) and term.value.could_extract_minus_sign())

    def scaled_array(self, term: Expr, shape) -> tuple[Expr, Expr] | None:
        """(scale, array) when the term is a scalar times a fresh array of the full shape."""
        if isinstance(term, MatMul) and term not in self.bound and len(term.chain) == 1:
            array = term.chain[0]
            if array.shape == shape and self.fresh(array) and not isinstance(array, MatMul):
                return mul(Const(term.coeff), *term.scalars), array
        return None

    # ------------------------------------------------------------ checks and dimensions
    def checks(self) -> list[Statement]:
        """An integer dimension declared by --shape is checked against the argument."""
        return [Statement("check", (p,), reads_vars=(p,)) for p in self.parameters
                if p.role == "parameter" and p.kind != "scalar"
                and any(d.is_Integer and d != 1 for d in p.shape)]

    def dimensions(self, program: Program, provided: dict) -> list[Statement]:
        needed: set = set()
        for s in self.statements:
            needed |= self.target.spelled_reads(s, program)[1]
        out = []
        for dim in sorted(needed, key=str):
            if dim in provided:
                program.dims[dim] = provided[dim]
                continue
            # a prepared array's shape gives it too (JAX's jit cannot take a size as a value)
            prepared = [v for v in self.bound.values() if v.role == "prepared"]
            source = _dimension_source(dim, self.parameters + prepared)
            if source is None:
                raise MissingDimension(dim)
            param, axis = source
            var = Var(SCALAR, "dimension", str(dim), source=dim)
            program.dims[dim] = var
            out.append(Statement("dimension", (var,), reads_vars=(param,), params=(axis,)))
        return out


def _dimension_source(dim, parameters: list[Var]) -> tuple[Var, int] | None:
    for p in parameters:
        for axis, d in enumerate(p.shape):
            if d == dim:
                return p, axis if p.kind == "matrix" else 0
    return None


def _cheap(e: Expr) -> bool:
    if isinstance(e, (Symbol, Const, Identity)):
        return True
    if isinstance(e, Transpose):
        return isinstance(e.arg, Symbol)
    if isinstance(e, Broadcast):
        return isinstance(e.arg, (Symbol, Const))
    return False


def _long_sum(e: Expr) -> bool:
    return isinstance(e, Add) and len(e.terms) > LONG_SUM


def _with_square_roots(order: list[Expr], shared: list[Expr]) -> list[Expr]:
    """Where b^(1/2) and b^(-1/2) are both needed, compute the root once: the printer
    spells b^(-1/2) as 1 / root. Each root goes right after its base."""
    present = set(order)
    roots = [Power(n.base, Const(HALF)) for n in order
             if isinstance(n, Power) and n.exponent == Const(-HALF)
             and Power(n.base, Const(HALF)) in present]
    chosen = set(shared)
    if not roots:
        return [n for n in order if n in chosen]
    wanted = chosen | set(roots)
    out: list[Expr] = []
    for node in order:
        if node in wanted and node not in roots:
            out.append(node)
        for root in roots:
            if root.base == node and root not in out:
                out.append(root)
    return out


def _softmax_pairs(order: list[Expr]) -> dict[Expr, tuple[Expr, Expr]]:
    """For each z whose softmax and logsumexp (over the same axis) are both needed, the pair."""
    present = set(order)
    pairs = {}
    for node in order:
        if isinstance(node, Func) and node.name in ("softmax", "softmax_all"):
            axis = 0 if node.name == "softmax" else None
            lse = Func(lookup("logsumexp"), node.args, (axis,),
                       (ONE, node.shape[1]) if axis == 0 else SCALAR)
            if lse in present:
                pairs[node.arg] = (node, lse)
    return pairs


def divisor(f: Expr, bound: dict) -> Expr | None:
    """What the code divides by for a factor b^-p (p > 0): b^p, None for other factors.

    b^(1/2) stays as it is (a root computed once is bound to it); a computed b is not
    taken apart by the constructors (its parts may not be at hand: hoisted code).
    """
    base, exp = split_power(f)
    if not (exp.is_number and exp < 0):
        return None
    if exp == -1:
        return base
    return Power(base, Const(-exp)) if exp == -HALF or base in bound else power(base, Const(-exp))


def multiply_first(factors) -> list[Expr]:
    """Multiply first, then divide: x / b^p costs one pass less than x * (1 / b^p)."""
    return sorted(factors, key=lambda f: bool(split_power(f)[1].is_number
                                              and split_power(f)[1] < 0))

