"""NumPy code: one self-contained snippet with ``grad_X`` functions and ``value_and_grad``.

The printer spells a statement program (``derive.program``): it declares what
NumPy may do in place and which of its spellings return views, and writes each
statement as one line. Vectors are 1-D arrays, scalars floats, matrices 2-D
arrays, so operands are aligned for broadcasting (a column vector added to a
matrix is ``v[:, None]``); matrix chains are multiplied in the cheapest order
the dimensions allow; diagonal and identity matrices are never built.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sympy

from ..expr.nodes import deep, HALF, SCALAR, Add, Broadcast, Const, Expr, Func, Hadamard, Identity, MatMul, Power, Sum, Shared, Symbol, Transpose, depends_on, postorder, symbols_in
from ..expr.simplify import neg, mul
from ..errors import DeriveError
from ..expr.ops import NUMPY_HELPERS
from ..program.chain import chain_dims, chain_order, share_products
from ..program import (Namer, Output, Program, Statement, Var, drop_dead, lower,
                       order_by_reads, reuse_buffers)
from ..program.lower import MissingDimension, multiply_first
from ..program.lower import divisor as divisor_of
from ..program.namer import python_name as _python_name
from ..program.statements import dimensions_of, kind_of_shape
from .base import StatementPrinter

ADD, MUL, UNARY, POWER, ATOM = 10, 20, 25, 30, 40
# Size assumed for a symbolic dimension when choosing the order of a matrix chain.
DEFAULT_DIMENSION = 100
# Names a parameter cannot take (it gets a trailing underscore, as a keyword does): the
# tuple hoisted code passes, and the helpers. Any other name of the formula is the
# parameter's, as SPEC section 4 says: an output or temporary of the same name is named
# otherwise; where a parameter is called np the functions reach NumPy as _np, and where
# one is called float the value is converted with np.float64.
SNIPPET_NAMES = frozenset({"prepared", "_np", *NUMPY_HELPERS, "_expect_shape"})
# Names no temporary takes.
OTHER_NAMES = frozenset({"value_and_grad", "prepare", "value", "float", "np"})
_NP_ALIAS = "_np = np  # a parameter is called np: the functions reach NumPy as _np"


def kind(e: Expr) -> str:
    return kind_of_shape(e.shape)


def parameter_names(parameters: list[Symbol]) -> dict[str, str]:
    """Each formula name as a parameter of the emitted functions: as in the formula; a
    keyword or a name the snippet uses (``np``, ``value``) gets a trailing underscore,
    more if the formula has that name too."""
    formula_names = {p.name for p in parameters}
    out: dict[str, str] = {}
    for p in parameters:
        name = _python_name(p.name, SNIPPET_NAMES)
        while name != p.name and name in formula_names:
            name = _python_name(name + "_", SNIPPET_NAMES)
        out[p.name] = name
    return out


def expect_shape_helper(shape_of_array: str) -> str:
    """The source of ``_expect_shape``, the check of an argument's shape declared with
    --shape; ``shape_of_array`` is the target's spelling of the array's shape tuple."""
    return f'''def _expect_shape(array, name, expected):
    shape = {shape_of_array}
    if len(shape) != len(expected) or any(e is not None and s != e
                                          for s, e in zip(shape, expected)):
        wanted = ", ".join("any" if e is None else str(e) for e in expected)
        raise ValueError(f"argument {{name}} has shape {{shape}}, but the code was derived "
                         f"for shape ({{wanted}}) (declared with --shape)")'''


def constants_like(parameters: list[Var]) -> Var | None:
    """The argument whose dtype (and device) the constants of JAX or PyTorch code take: an
    array, or else the first scalar."""
    arrays = [p for p in parameters if p.kind != "scalar"]
    return (arrays or parameters or [None])[0]


class NumpyPrinter(StatementPrinter):
    """Spells statements as NumPy; also declares, for the passes, what NumPy does in place."""

    accumulates = True   # t = a; t += b on a fresh array
    # What the other targets (codegen/jax.py, torch.py) spell differently: the module the
    # array functions come from, the snippet's imports, and the helpers it may define.
    module = "np"
    imports = "import numpy as np"
    helper_sources = {**NUMPY_HELPERS, "_expect_shape": expect_shape_helper("np.shape(array)"),
                      "_np": _NP_ALIAS}
    # Elementwise functions NumPy can write into the array they read: op name -> ufunc.
    in_place_ufuncs = {"exp": "exp", "log": "log", "tanh": "tanh", "abs": "abs", "sin": "sin",
                       "cos": "cos", "sign": "sign"}

    def __init__(self) -> None:
        super().__init__()
        self.to_float = "float"
        self.np = "np"

    # ------------------------------------------------------------ what the passes ask
    def aliases(self, e: Expr, bound: dict[Expr, Var]) -> tuple[Var | None, bool]:
        """(the variable whose memory the code of ``e`` may share, whether read-only)."""
        if e in bound:
            var = bound[e]
            return var, var.readonly or var.role in ("parameter", "prepared")
        if isinstance(e, Transpose):
            return self.aliases(e.arg, bound)
        if isinstance(e, Shared):
            return self.aliases(e.value, bound)
        if isinstance(e, Func) and e.op.numpy_view and kind(e.arg) == "matrix":
            return self.aliases(e.arg, bound)[0], True
        if isinstance(e, MatMul) and e.coeff == 1 and len(e.factors) == 1:
            return self.aliases(e.factors[0], bound)
        return None, False

    def in_place_operand(self, e: Expr, bound: dict[Expr, Var]) -> Expr | None:
        """The bound operand of ``e`` whose array the code of e can be written into."""
        operand = None
        if isinstance(e, Func) and e.name in self.in_place_ufuncs:
            operand = e.arg
        elif isinstance(e, Power) and isinstance(e.exponent, Const) and \
                e.exponent.value in (HALF, 2):
            operand = e.base
        elif isinstance(e, Power) and divisor_of(e, bound) is not None and not _reciprocal_zero(e):
            operand = divisor_of(e, bound)                  # 1.0 / x
        elif isinstance(e, Hadamard) and len(e.factors) == 2:
            second = multiply_first(e.factors)[1]
            if second not in bound and divisor_of(second, bound) is not None:
                operand = divisor_of(second, bound)           # a / x
        if operand is None or operand not in bound or operand.shape != e.shape:
            return None
        return operand

    # ------------------------------------------------------------ statements
    def enter_scope(self, in_scope: set[str]) -> None:
        # NumPy and the builtin float, unless a parameter (or a prepared value) has their name
        self.np = f"_{self.module}" if self.module in in_scope else self.module
        if self.np != self.module:
            self.helpers.add(self.np)
        self.to_float = f"{self.np}.float64" if "float" in in_scope else "float"

    def statement(self, s: Statement) -> list[str]:
        target = s.target
        if s.op == "check":
            self.helpers.add("_expect_shape")
            p = s.target
            dims = [d for d, keep in zip(p.shape, _axes(p)) if keep]
            expected = ", ".join(str(d) if d.is_Integer else "None" for d in dims)
            expected += "," if len(dims) == 1 else ""
            return [f"_expect_shape({self.name(p)}, {p.hint!r}, ({expected}))"]
        if s.op == "dimension":
            param, = s.reads_vars
            return [f"{self.name(target)} = {self.name(param)}.shape[{s.params[0]}]"]
        if s.op == "softmax_logsumexp":
            self.helpers.add("_softmax_logsumexp")
            names = ", ".join(self.name(t) for t in s.targets)
            return [f"{names} = _softmax_logsumexp({self.code(s.expr)}, axis={s.params[0]})"]
        if s.op == "update":
            operand = self.name(s.reads_vars[0]) if s.expr is None else \
                self.aligned(s.expr, target.kind, ADD)
            if s.operator == "*=" and s.expr is not None and s.expr.is_scalar:
                operand = self.wrap(s.expr, MUL)
            return [f"{self.name(target)} {s.operator} {operand}"]
        # the node this statement computes is printed, not read under its own name
        self.root = s.expr if self.bound.get(s.expr) in s.targets else None
        comment = f"  # {_shape_comment(target.shape)}" if target.role == "temporary" else ""
        try:
            if s.in_place is not None:
                return [self.in_place(s) + comment]
            if target.role == "output" and (target.hint == "value" or isinstance(s.expr, Const)):
                code = self.copied(s.expr) if s.params == ("copy",) else self.code(s.expr)
                return [f"{self.name(target)} = {self.value(code)}"]
            if s.params == ("copy",):
                return [f"{self.name(target)} = {self.copied(s.expr)}"]
            return [f"{self.name(target)} = {self.code(s.expr)}{comment}"]
        finally:
            self.root = None

    def copied(self, e: Expr) -> str:
        """A fresh array holding e (a float is a value already)."""
        return self.code(e) if kind(e) == "scalar" else f"{self.wrap(e, ATOM)}.copy()"

    def in_place(self, s: Statement) -> str:
        e, x = s.expr, self.name(self.bound[s.in_place])
        if isinstance(e, Func):
            return f"{self.np}.{self.in_place_ufuncs[e.name]}({x}, out={x})"
        if isinstance(e, Power):
            p = e.exponent.value
            if p < 0:
                return f"{self.np}.divide(1.0, {x}, out={x})"
            return f"{self.np}.{'sqrt' if p == HALF else 'square'}({x}, out={x})"
        numerator = multiply_first(e.factors)[0]
        return f"{self.np}.divide({self.aligned(numerator, kind(e), ATOM)}, {x}, out={x})"

    def value(self, code: str) -> str:
        """The cost as the target returns it: a float in NumPy."""
        return f"{self.to_float}({code})"

    def vdot(self, a: Expr, b: Expr) -> str:
        """The sum of the products of the entries of a and b (same shape)."""
        return f"{self.np}.vdot({self.code(a)}, {self.code(b)})"

    def spelling(self, e: Func, args: list[str]) -> str:
        """A function call: the operation's own spelling for this target."""
        return e.op.numpy(args, e.params)

    def constant_keywords(self) -> str:
        """Keyword arguments that make a constant (an identity) like the arguments: none in
        NumPy, where every array is float64."""
        return ""

    # ------------------------------------------------------------ expressions
    @deep
    def code(self, e: Expr) -> str:
        return self._code(e)[0]

    def _code(self, e: Expr) -> tuple[str, int]:
        if e in self.bound and e is not self.root:
            return self.name(self.bound[e]), ATOM
        return getattr(self, f"_print_{type(e).__name__}")(e)

    def is_bound(self, e: Expr) -> bool:
        return e in self.bound and e is not self.root

    def wrap(self, e: Expr, level: int) -> str:
        text, prec = self._code(e)
        return f"({text})" if prec < level else text

    def aligned(self, e: Expr, target: str, level: int, strip: bool = True) -> str:
        """``e`` as an operand of an elementwise operation whose result has kind ``target``.

        ``strip``: another operand has the full shape, so NumPy broadcasts this one itself.
        """
        if strip and isinstance(e, Broadcast) and not self.is_bound(e):
            e = e.arg
        if target == "matrix" and kind(e) == "col":
            return f"{self.wrap(e, ATOM)}[:, None]"
        return self.wrap(e, level)

    def full(self, e: Expr) -> bool:
        """Whether the code of ``e`` as an operand has all of e's shape (an operand that is a
        broadcast is printed as what it repeats, which NumPy broadcasts)."""
        if self.is_bound(e):
            return True
        if isinstance(e, Broadcast):
            return False
        if isinstance(e, MatMul) and len(e.chain) == 1:
            return self.full(e.chain[0])
        if isinstance(e, (Add, Hadamard)):
            return any(o.shape == e.shape and self.full(o) for o in e.children)
        if isinstance(e, (Power, Transpose, Shared)):
            return self.full(e.children[0])
        return True

    def has_full_operand(self, e: Expr, operands) -> bool:
        return any(o.shape == e.shape and self.full(o) for o in operands)

    def number(self, value: sympy.Expr) -> tuple[str, int]:
        symbols = value.free_symbols
        self.dims_used |= symbols
        if value.is_Integer:
            return (str(value), ATOM) if value >= 0 else (str(value), UNARY)
        if value.is_Rational:
            return f"{value.p} / {value.q}", MUL
        if value.is_Float:
            return repr(float(value)), ATOM
        if self.recorded is not None:
            return "_", MUL
        renamed = value.subs({s: sympy.Symbol(self.name(self.dim_vars[s])) for s in symbols})
        return sympy.pycode(renamed), MUL

    def _print_Shared(self, e: Shared) -> tuple[str, int]:
        return self._code(e.value)

    def _print_Symbol(self, e: Symbol) -> tuple[str, int]:
        raise AssertionError(f"unbound name {e.name} in emitted code")

    def _print_Const(self, e: Const) -> tuple[str, int]:
        return self.number(e.value)

    def _shape_code(self, rows, cols) -> str:
        dims = [d for d in (rows, cols) if d != 1]
        parts = [self.number(sympy.sympify(d))[0] for d in dims]
        return parts[0] if len(parts) == 1 else f"({', '.join(parts)})"

    def _print_Identity(self, e: Identity) -> tuple[str, int]:
        if e.is_scalar:
            return "1.0", ATOM   # eye(1) is the number 1 (an array (1, 1) is no float)
        return f"{self.np}.eye({self.number(e.shape[0])[0]}{self.constant_keywords()})", ATOM

    def _print_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        shape = self._shape_code(*e.shape)
        if e.arg.is_scalar:
            return f"{self.np}.full({shape}, {self.code(e.arg)}, dtype={self.np}.float64)", ATOM
        return f"{self.np}.broadcast_to({self.repeated(e)}, {shape}).copy()", ATOM

    def repeated(self, e: Broadcast) -> str:
        """What a broadcast of a vector repeats, as the operand of broadcast_to (or expand):
        a column repeated across a matrix stands as v[:, None]."""
        target = kind(e)
        return self.aligned(e.arg, target, ATOM) if target == "matrix" else self.wrap(e.arg, ATOM)

    def _print_Add(self, e: Add) -> tuple[str, int]:
        target = kind(e)
        strip = self.has_full_operand(e, e.terms)
        out = ""
        for i, term in enumerate(e.terms):
            if i > 0 and not self.is_bound(term) and _negative(term):
                out += " - " + self.aligned(neg(term), target, ADD + 1, strip)
            else:
                text = self.aligned(term, target, ADD + 1 if i else ADD, strip)
                out = text if i == 0 else out + " + " + text
        return out, ADD

    def _print_MatMul(self, e: MatMul) -> tuple[str, int]:
        coeff = e.coeff
        negative = coeff.could_extract_minus_sign()
        if negative:
            coeff = -coeff
        parts = []
        if coeff != 1:
            text, prec = self.number(coeff)
            parts.append(text if prec == ATOM else f"({text})")
        parts.extend(self.wrap(f, MUL + 1) for f in e.scalars)
        sign = "-" if negative else ""
        # -a is unary; -a * b is a product (Python reads it as (-a) * b)
        signed = UNARY if negative else MUL
        chain = list(e.chain)
        if not chain:
            return sign + " * ".join(parts), (signed if len(parts) == 1 else MUL)
        # The scale goes on the smallest operand: a factor smaller than the product, if any.
        sizes = [_size(f.shape[0]) * _size(f.shape[1]) for f in chain]
        smallest = min(range(len(chain)), key=sizes.__getitem__)
        scale = sign + " * ".join(parts)
        if scale and len(chain) > 1 and sizes[smallest] < _size(e.shape[0]) * _size(e.shape[1]):
            return self._chain(chain, {smallest: scale if parts else "-1"})
        text, prec = self._chain(chain)
        if not parts:
            # -(X.T @ v): a minus written in front of X.T would negate (copy) all of X
            return (f"-({text})" if prec <= MUL else f"-{text}", UNARY) if negative \
                else (text, prec)
        parts.append(text if prec > MUL else f"({text})")
        return sign + " * ".join(parts), MUL

    def _chain(self, chain: list[Expr], scaled: dict[int, str] | None = None
               ) -> tuple[str, int]:
        """The product of a chain, in the cheapest order; (code, precedence).

        ``scaled`` maps a factor's index to the scalar it is multiplied by first.
        """
        split = _split(tuple(chain_dims(chain, _size)))
        return self._subchain(chain, split, scaled or {}, 0, len(chain) - 1)

    def _subchain(self, chain, split, scaled, i: int, j: int) -> tuple[str, int]:
        if i == j:
            if i in scaled:
                return f"({scaled[i]} * {self.wrap(chain[i], MUL + 1)})", ATOM
            return self._code(chain[i])
        k = split[i][j]
        left_code, left_prec = self._subchain(chain, split, scaled, i, k - 1)
        right_code, right_prec = self._subchain(chain, split, scaled, k, j)
        left_kind = _chain_kind(chain[i:k])
        right_kind = _chain_kind(chain[k:j + 1])
        if left_kind == "col" and right_kind == "row":
            return f"{self.np}.outer({left_code}, {right_code})", ATOM
        left = left_code if left_prec >= MUL else f"({left_code})"
        right = right_code if right_prec > MUL else f"({right_code})"
        # a 1x1 piece (x^T y) of a longer chain is a number: scale, don't multiply
        operator = "*" if "scalar" in (left_kind, right_kind) else "@"
        return f"{left} {operator} {right}", MUL

    def _print_Hadamard(self, e: Hadamard) -> tuple[str, int]:
        target = kind(e)
        strip = self.has_full_operand(e, e.factors)
        text = ""
        for i, f in enumerate(multiply_first(e.factors)):
            divisor = divisor_of(f, self.bound) if i > 0 and not self.is_bound(f) else None
            if divisor is not None:
                text += " / " + self.aligned(divisor, target, MUL + 1, strip)
            else:
                part = self.aligned(f, target, MUL + 1 if i else MUL, strip)
                text = part if i == 0 else text + " * " + part
        return text, MUL

    def _print_Power(self, e: Power) -> tuple[str, int]:
        base = e.base
        if isinstance(e.exponent, Const):
            p = e.exponent.value
            if p < 0 and _reciprocal_zero(e):
                self.helpers.add("_inverse_or_zero")
                inverse = f"_inverse_or_zero({self.code(base)})"
                return (inverse, ATOM) if p == -1 else (f"{inverse} ** {-p}", POWER)
            if p == 2:
                return f"{self.np}.square({self.code(base)})", ATOM
            if p == HALF:
                return f"{self.np}.sqrt({self.code(base)})", ATOM
            if p in (-1, -HALF):
                return f"1.0 / {self.wrap(divisor_of(e, self.bound), MUL + 1)}", MUL
            if p.is_Integer and p > 0:
                return f"{self.wrap(base, POWER + 1)} ** {p}", POWER
        exponent = self.wrap(e.exponent, POWER + 1)
        return f"{self.wrap(base, POWER + 1)} ** {exponent}", POWER

    def _print_Transpose(self, e: Transpose) -> tuple[str, int]:
        if kind(e.arg) != "matrix":
            return self._code(e.arg)
        return f"{self.wrap(e.arg, ATOM)}.T", ATOM

    def _print_Sum(self, e: Sum) -> tuple[str, int]:
        arg = e.arg
        if e.axis is None:
            if isinstance(arg, Power) and arg.exponent == Const(2) and not self.is_bound(arg):
                return self.vdot(arg.base, arg.base), ATOM
            if isinstance(arg, Hadamard) and len(arg.factors) == 2 and not self.is_bound(arg) \
                    and all(f.shape == arg.shape for f in arg.factors):
                return self.vdot(*arg.factors), ATOM
            return f"{self.np}.sum({self.code(arg)})", ATOM
        return f"{self.wrap(arg, ATOM)}.sum(axis={e.axis})", ATOM

    def transposed(self, e: Expr) -> Expr:
        """e^T for the code: a computed value is transposed as it is, never taken apart (its
        parts may not be at hand)."""
        if self.is_bound(e):
            return Transpose(e)
        if isinstance(e, Transpose):
            return e.arg
        if isinstance(e, MatMul):
            return mul(Const(e.coeff), *e.scalars, *[self.transposed(f) for f in reversed(e.chain)])
        return Transpose(e)

    def _print_Func(self, e: Func) -> tuple[str, int]:
        arg = e.arg
        if e.name == "tr" and isinstance(arg, MatMul) and len(arg.chain) >= 2 \
                and not self.is_bound(arg):
            # tr(P Q) = <P^T, Q>: no product beyond what P needs is formed.
            *left, last = arg.chain
            scale = mul(Const(arg.coeff), *arg.scalars)
            first = self.transposed(mul(*left))
            if isinstance(first, Transpose) and isinstance(last, Transpose) \
                    and not self.is_bound(last):
                first, last = first.arg, last.arg   # <P^T, Q^T> = <P, Q>, without copies
            inner = self.vdot(first, last)
            if scale == Const(1):
                return inner, ATOM
            return f"{self.wrap(scale, MUL)} * {inner}", MUL
        # a number argument is a float: np.abs(2) ** -2 would be integers to a negative power
        args = [repr(float(a.value)) if isinstance(a, Const) and a.value.is_number
                else self.code(a) for a in e.args]
        if e.name == "kron":   # a vector is 1-D here, and np.kron takes a 1-D one as a row
            args = [f"{self.wrap(a, ATOM)}{'[:, None]' if kind(a) == 'col' else '[None, :]'}"
                    if kind(a) in ("col", "row") else text for a, text in zip(e.args, args)]
        # the rule's template with the module's name here, the arguments put in after
        marks = [f"\x00{i}\x00" for i in range(len(args))]
        spelling = self.spelling(e, marks)
        for helper in self.helper_sources:
            if helper + "(" in spelling:
                self.helpers.add(helper)
        if self.np != self.module:
            spelling = re.sub(rf"\b{self.module}\.", f"{self.np}.", spelling)
        for mark, arg in zip(marks, args):
            spelling = spelling.replace(mark, arg)
        return spelling, ATOM


def spelled_in(table: dict, e: Func, language: str):
    """The spelling of e's operation in another target's table, or a refusal: a function
    made from a SymPy expression is spelled for NumPy only."""
    if e.op not in table:
        shown = e.op.text(["x"] * len(e.args), e.params)
        raise DeriveError(f"the function {shown[:60]} (from SymPy) has no {language} "
                          "spelling: use --format numpy")
    return table[e.op]


def _negative(term: Expr) -> bool:
    return isinstance(term, MatMul) and term.coeff.could_extract_minus_sign() \
        or isinstance(term, Const) and term.value.could_extract_minus_sign()


def _reciprocal_zero(e: Power) -> bool:
    return isinstance(e.base, Func) and e.base.op.reciprocal_zero_at_zero


def _axes(p: Var) -> tuple[bool, bool]:
    """Which of (rows, cols) are axes of the parameter's array."""
    k = p.kind
    return (k in ("col", "matrix"), k in ("row", "matrix"))


@functools.lru_cache(maxsize=1024)
def _split(dims: tuple[int, ...]) -> list[list[int]]:
    """The cheapest order of a chain (a statement is spelled more than once: cached)."""
    return chain_order(list(dims))[1]


def _chain_kind(chain: list[Expr]) -> str:
    return kind_of_shape((chain[0].shape[0], chain[-1].shape[1]))


def _size(d) -> int:
    return int(d) if d.is_Integer else DEFAULT_DIMENSION


def _run_cost(run) -> int:
    return chain_order(chain_dims(run, _size))[0]


def _shape_comment(shape) -> str:
    rows, cols = shape
    if rows == 1 and cols == 1:
        return "scalar"
    if cols == 1:
        return f"({rows},)"
    if rows == 1:
        return f"({cols},) row"
    return f"({rows}, {cols})"


def _kind_word(s: Symbol) -> str:
    rows, cols = s.shape
    k = kind(s)
    if k == "scalar":
        return "scalar"
    if k == "col":
        return f"vector, shape ({rows},)"
    if k == "row":
        return f"row vector, shape ({cols},)"
    return f"matrix, shape ({rows}, {cols})"


# ---------------------------------------------------------------- whole functions

class _Function:
    """One emitted function: its parameters, its program, and the names in it."""

    def __init__(self, printer: NumpyPrinter, parameters: list[Symbol], outputs: list[Output],
                 reserved: set[str], pnames: dict[str, str], inputs: dict[Expr, Var] | None = None,
                 hints: dict[Expr, str] | None = None, provided_dims: dict | None = None,
                 share: bool = True) -> None:
        self.params = [Var(p.shape, "parameter", p.name, readonly=True, source=p)
                       for p in parameters]
        if share:
            shared = share_products([o.expr for o in outputs], _run_cost)
            outputs = [Output(o.name, e) for o, e in zip(outputs, shared)]
        try:
            program = lower(outputs, self.params, printer, inputs, hints, provided_dims)
        except MissingDimension as missing:
            raise DeriveError(f"the dimension {missing.dim} is fixed by no argument of the "
                              f"code: declare it with --shape (an integer), or use it in the "
                              f"shape of a variable") from None
        self.program = reuse_buffers(drop_dead(order_by_reads(program)), printer)
        self.names = _allocate_names(self.program, reserved, pnames, inputs)
        self.printer = printer

    @property
    def signature(self) -> list[str]:
        return [self.names[p] for p in self.params]

    def body(self) -> list[str]:
        return self.printer.spell(self.program, self.names)

    @property
    def returned(self) -> str:
        return ", ".join(self.names[v.storage] for v in self.program.returns)


def _allocate_names(program: Program, reserved: set[str], pnames: dict[str, str],
                    inputs: dict[Expr, Var] | None) -> dict[Var, str]:
    """Every name last: parameters as in the formula, then dimensions, outputs, prepared
    values, definitions, and temporaries t1, t2, ... none equal to another."""
    outputs = {v.hint for v in program.returns}
    namer = Namer(set(reserved) - outputs)   # "value" is the output's, never a parameter's
    names: dict[Var, str] = {}
    for p in program.parameters:
        names[p] = pnames[p.hint]
        namer.taken.add(names[p])
    for v in list((inputs or {}).values()) + list(program.dims.values()):
        if v.role == "prepared":
            names[v] = v.hint   # allocated by the caller, who reserved them
            namer.taken.add(v.hint)
    for v in program.returns:
        if v.reuses is None:
            names[v] = namer.exact(v.hint)
    for v in program.dims.values():
        if v not in names:
            names[v] = namer.exact(v.hint, "_dim")
    for s in program.statements:
        for v in s.targets:
            if v.storage is v and v not in names:
                names[v] = namer.numbered("t") if v.hint == "t" else namer.exact(v.hint)
    return names


def _reserved(pnames: dict[str, str]) -> set[str]:
    """Names no temporary may take: the snippet's own, every parameter's, every function's."""
    return set(SNIPPET_NAMES | OTHER_NAMES) | set(pnames.values())


def _definition_hints(definitions: dict[str, Expr] | None) -> dict[Expr, str]:
    return {e: name for name, e in (definitions or {}).items() if not isinstance(e, Symbol)}


def _docstring(summary: str, source: str, parameters: list[Symbol], pnames: dict[str, str],
               notes: list[str], returns: str, extra_arguments: tuple[str, ...] = (),
               remarks: tuple[str, ...] = ()) -> list[str]:
    formula = " ".join(line.split("#")[0].strip() for line in source.splitlines()).strip()
    formula = formula.replace("\\", "\\\\").replace('"', '\\"')
    lines = [f'"""{summary}', "", f"    F = {formula}", "", "Arguments:"]
    lines += [f"    {pnames[p.name]}: {_kind_word(p)}" for p in parameters]
    lines += [f"    {argument}" for argument in extra_arguments]
    lines += ["", f"Returns {returns}."]
    if notes:
        lines += ["", "Non-smooth points:"] + [f"    {note}" for note in notes]
    if remarks:
        lines += [""] + list(remarks)
    return lines + ['"""']


def _function(name: str, signature: str, body: list[str], returned: str,
              docstring: list[str]) -> str:
    lines = [f"def {name}({signature}):"]
    lines += ["    " + line if line else "" for line in docstring]
    lines += ["    " + line for line in body]
    lines.append(f"    return {returned}")
    return "\n".join(lines)


def _helpers(printer: NumpyPrinter) -> list[str]:
    return [printer.helper_sources[h] for h in sorted(printer.helpers)]


@deep
def snippet(source: str, parameters: list[Symbol], value: Expr, gradients: dict[str, Expr],
            notes: list[str], definitions: dict[str, Expr] | None = None,
            directions: list[Symbol] = (), hvps: dict[str, Expr] | None = None,
            hessians: dict[str, Expr] | None = None, printer: NumpyPrinter | None = None) -> str:
    """The whole program of SPEC section 4 (with ``hvps``, its second order too), in NumPy or
    in the language ``printer`` spells."""
    printer = printer or NumpyPrinter()
    pnames = parameter_names(list(parameters) + list(directions))
    reserved = _reserved(pnames)
    hints = _definition_hints(definitions)
    outputs = [Output("value", value)] + [Output(f"grad_{n}", g) for n, g in gradients.items()]
    whole = _Function(printer, parameters, outputs, reserved, pnames, hints=hints)
    signature = ", ".join(whole.signature)
    functions = [_function(
        "value_and_grad", signature, whole.body(), whole.returned,
        _docstring("Value of F and its gradients, sharing the work.", source, parameters, pnames,
                   notes, f"({', '.join(o.name for o in outputs)})"))]
    for name, gradient in gradients.items():
        one = _Function(printer, parameters, [Output(f"grad_{name}", gradient)], reserved,
                        pnames, hints=hints)
        functions.append(_function(
            f"grad_{name}", signature, one.body(), one.returned,
            _docstring(f"Gradient of F with respect to {name}.", source, parameters, pnames, notes,
                       f"dF/d{name}, shaped like {name}")))
    if hvps:
        functions += _second_order_functions(printer, source, parameters, pnames, reserved, hints,
                                             notes, outputs, list(directions), hvps,
                                             hessians or {})
    return "\n\n\n".join([printer.imports] + _helpers(printer) + functions) + "\n"


def _second_order_functions(printer: NumpyPrinter, source: str, parameters: list[Symbol],
                            pnames: dict[str, str], reserved: set[str], hints: dict[Expr, str],
                            notes: list[str], first: list[Output], directions: list[Symbol],
                            hvps: dict[str, Expr], hessians: dict[str, Expr]) -> list[str]:
    """hvp(..., d_X, ...), value_grad_hvp(...) and hessian_X(...): the same programs, with the
    directions as extra parameters and the products (or Hessians) as extra outputs."""
    both = list(parameters) + directions
    extra = tuple(f"{pnames[d.name]}: the direction of {name}, shaped like {name}"
                  for d, name in zip(directions, hvps))
    products = [Output(f"hvp_{name}", h) for name, h in hvps.items()]
    returned = ", ".join(o.name for o in products)
    together = ", ".join(o.name for o in first + products)
    alone = _Function(printer, both, products, reserved, pnames, hints=hints)
    shared = _Function(printer, both, first + products, reserved, pnames, hints=hints)
    signature = ", ".join(alone.signature)
    functions = [
        _function("hvp", signature, alone.body(), alone.returned,
                  _docstring("Hessian-vector product: the derivative of the gradients along the "
                             "directions.", source, parameters, pnames, notes,
                             f"({returned})" if len(products) > 1 else
                             f"{returned}, shaped like {next(iter(hvps))}", extra)),
        _function("value_grad_hvp", signature, shared.body(), shared.returned,
                  _docstring("Value, gradients and Hessian-vector products, sharing the work.",
                             source, parameters, pnames, notes, f"({together})", extra))]
    direction_of = dict(zip(hvps, directions))
    for name, hessian in hessians.items():
        remark = (f"It acts on {name}.reshape(-1, order='F'), the columns of {name} stacked.",) \
            if kind(direction_of[name]) == "matrix" else ()
        one = _Function(printer, parameters, [Output(f"hessian_{name}", hessian)], reserved,
                        pnames, hints=hints)
        functions.append(_function(
            f"hessian_{name}", ", ".join(one.signature), one.body(), one.returned,
            _docstring(f"Hessian of F with respect to {name}.", source, parameters, pnames,
                       notes, "a number" if hessian.is_scalar else "a matrix", remarks=remark)))
    return functions


@dataclass
class Hoisting:
    """The two functions of hoisted code, as programs: prepare(data) and the per-call code."""
    variables: list[Symbol]
    data: list[Symbol]
    outputs: list[Output]
    per_call: _Function
    prepare: _Function | None          # None: nothing to compute, only data to pass on
    data_checks: _Function | None      # the data's shape checks, where prepare is None
    returned: list[str]                # what prepare returns: prepared values, dimensions
    dim_vars: dict                     # dimension symbol -> the prepared Var holding it


def hoisting(parameters: list[Symbol], wrt: list[str], value: Expr, gradients: dict[str, Expr],
             definitions: dict[str, Expr] | None, printer, pnames: dict[str, str],
             reserved: set[str], kept: set[str]) -> Hoisting:
    """What prepare() computes once, and the per-call program that reads it (any target).

    ``reserved``: names nothing prepared may take; ``kept``: the formula's dimensions that
    keep their names where they are read (those the snippet does not need itself)."""
    variables = [p for p in parameters if p.name in wrt]
    data = [p for p in parameters if p.name not in wrt]
    # the gradients in the order of --wrt, as value_and_grad of the plain snippet returns them
    outputs = [Output("value", value)] + [Output(f"grad_{n}", gradients[n]) for n in wrt]
    shared = share_products([o.expr for o in outputs], _run_cost)
    outputs = [Output(o.name, e) for o, e in zip(outputs, shared)]
    prepared = _prepared_nodes([o.expr for o in outputs], frozenset(wrt), data)
    # Data the per-call code uses as they are (x beside a prepared x x^T) come along too.
    reached = postorder([o.expr for o in outputs], lambda n: n not in prepared)
    prepared += [s for s in reached if isinstance(s, Symbol) and s.name not in wrt
                 and s not in prepared]
    # Dimensions the per-call code needs that no variable's shape gives: prepare reads them.
    per_call_dims = {d for v in variables for d in v.shape}
    needed: set = set()
    for node in reached:
        if node not in prepared:
            needed |= {d for d in dimensions_of(node) if d not in per_call_dims}
    # prepared values are named p1, p2, ... past every name and dimension of the formula
    namer = Namer(reserved)
    prepared_vars: dict[Expr, Var] = {}
    for node in prepared:
        # a datum passed on keeps its parameter's name (value_and_grad has no such parameter)
        name = pnames[node.name] if isinstance(node, Symbol) else namer.numbered("p")
        prepared_vars[node] = Var(node.shape, "prepared", name, readonly=True)
    # a dimension that a prepared array's shape gives is read from it in the per-call code
    # (jax.jit cannot take a size as a value)
    needed -= {d for v in prepared_vars.values() for d in v.shape}
    dim_vars: dict = {}
    for d in sorted(needed, key=str):
        if any(d in s.shape for s in data):
            dim_vars[d] = Var(SCALAR, "prepared", namer.exact(str(d), "_dim"), source=d)
    # a dimension keeps its name where it is read, unless the snippet needs that name
    reserved = set(namer.taken) - kept
    hints = _definition_hints(definitions)
    per_call = _Function(printer, variables, outputs, reserved, pnames,
                         inputs=prepared_vars,
                         hints=hints, provided_dims=dim_vars, share=False)
    computed = [Output(prepared_vars[n].hint, n) for n in prepared if not isinstance(n, Symbol)]
    prepare = _Function(printer, data, computed, reserved, pnames, hints=hints, share=False) \
        if computed else None
    data_checks = None if prepare else \
        _Function(printer, data, [], reserved, pnames, share=False)
    returned = [prepared_vars[n].hint for n in prepared] + [v.hint for v in dim_vars.values()]
    return Hoisting(variables, data, outputs, per_call, prepare, data_checks, returned, dim_vars)


@deep
def hoisted_snippet(source: str, parameters: list[Symbol], wrt: list[str], value: Expr,
                    gradients: dict[str, Expr], notes: list[str], expanded: bool,
                    definitions: dict[str, Expr] | None = None,
                    printer: NumpyPrinter | None = None) -> str:
    """``prepare(data...)`` once, then ``value_and_grad(variables..., prepared)`` per call."""
    printer = printer or NumpyPrinter()
    pnames = parameter_names(parameters)
    dimensions = {str(d) for p in parameters for d in p.shape if not d.is_Integer}
    plan = hoisting(parameters, wrt, value, gradients, definitions, printer, pnames,
                    _reserved(pnames) | dimensions, dimensions - SNIPPET_NAMES - OTHER_NAMES)
    variables, data, outputs, per_call = plan.variables, plan.data, plan.outputs, plan.per_call
    prepare_body = (plan.prepare or plan.data_checks).body()
    dim_lines = [f"{v.hint} = {_dim_source(d, data, pnames)}" for d, v in plan.dim_vars.items()]
    packed = ", ".join(plan.returned) + ("," if len(plan.returned) == 1 else "")
    unpack = [f"{packed} = prepared"] if plan.returned else []
    returned_grads = ", ".join(o.name for o in outputs)
    prepare_doc = _docstring("Everything that does not involve " + ", ".join(wrt) +
                             ": call once, pass the result to value_and_grad.",
                             source, data, pnames, notes, "the prepared values, a tuple")
    call_doc = _docstring("Value of F and its gradients, from the prepared data.", source,
                          variables, pnames, notes, f"({returned_grads})",
                          ("prepared: the tuple prepare() returned",),
                          EXPANDED_NOTE if expanded else ())
    data_signature = ", ".join(pnames[p.name] for p in data)
    functions = [
        _function("prepare", data_signature, prepare_body + dim_lines, f"({packed})",
                  prepare_doc),
        _function("value_and_grad", ", ".join(per_call.signature + ["prepared"]),
                  unpack + per_call.body(), per_call.returned, call_doc),
    ]
    return "\n\n\n".join([printer.imports] + _helpers(printer) + functions) + "\n"


EXPANDED_NOTE = ("The squared norms were expanded into traces of products of the data, computed",
                 "once in prepare(): faster, but the value loses accuracy when the residual is",
                 "small against the data.")


def _dim_source(dim, data: list[Symbol], pnames: dict[str, str]) -> str:
    for p in data:
        for axis, d in enumerate(p.shape):
            if d == dim:
                return f"{pnames[p.name]}.shape[{axis if kind(p) == 'matrix' else 0}]"
    raise AssertionError(dim)


def _prepared_nodes(outputs: list[Expr], wrt: frozenset[str], data: list[Symbol]) -> list[Expr]:
    """The largest pieces of the outputs that do not involve the variables."""
    involves: dict[Expr, bool] = {}
    for e in outputs:
        depends_on(e, wrt, involves)
    uses_data: dict[Expr, bool] = {}
    for e in outputs:
        depends_on(e, frozenset(s.name for s in symbols_in(e)) - wrt, uses_data)

    available = {d for s in data for d in s.shape}
    dims: dict[Expr, set] = {}
    for node in postorder(outputs):
        own = set(node.shape) | dimensions_of(node)
        dims[node] = own.union(*(dims[c] for c in node.children))

    def worth_preparing(node: Expr) -> bool:
        # Constants (ones, I) cost nothing per call; prepare() knows only the data's sizes.
        return not involves[node] and uses_data[node] and all(
            d.is_Integer or d in available for d in dims[node])
    def unviewed(node: Expr) -> Expr:
        # A transpose is a free view, and the printer may turn a product around it (x^T X^T
        # as X x): prepare what it views, so that either side is at hand.
        return node.arg if isinstance(node, Transpose) else node
    found: dict[Expr, None] = {}
    for node in postorder(outputs, lambda n: involves[n]):
        if involves[node]:
            for child in node.children:
                if worth_preparing(child):
                    found.setdefault(unviewed(child), None)
        elif node in outputs and worth_preparing(node):
            found.setdefault(unviewed(node), None)
    return list(found)
