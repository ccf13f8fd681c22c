"""NumPy code: one self-contained snippet with ``grad_X`` functions and ``value_and_grad``.

Vectors are 1-D arrays, scalars floats, matrices 2-D arrays, so the printer
tracks each node's kind and aligns operands for broadcasting (a column vector
added to a matrix is ``v[:, None]``). Every subexpression used twice is
computed once into a temporary; matrix chains are multiplied in the cheapest
order the dimensions allow; diagonal and identity matrices are never built.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

import sympy

from ..expr import (deep, add, neg, ONE, SCALAR, Add, Broadcast, Const, Expr, Func, Hadamard, Identity, MatMul, Power, Sum,
                    Shared, Symbol, Transpose, depends_on, mul, postorder, power, split_power,
                    symbols_in, transpose)
from ..functions import NUMPY_HELPERS, lookup
from ..optimize import chain_dims, chain_order, share_products

ADD, MUL, UNARY, POWER, ATOM = 10, 20, 25, 30, 40
HALF = sympy.Rational(1, 2)
# Size assumed for a symbolic dimension when choosing the order of a matrix chain.
DEFAULT_DIMENSION = 100


def kind(e: Expr) -> str:
    return kind_of_shape(e.shape)


def kind_of_shape(shape) -> str:
    rows, cols = shape
    if rows == 1 and cols == 1:
        return "scalar"
    if cols == 1:
        return "col"
    if rows == 1:
        return "row"
    return "matrix"


def python_name(name: str) -> str:
    return name + "_" if keyword.iskeyword(name) or name in ("np", "value") else name


@dataclass
class Output:
    name: str          # the variable it is returned in: value, grad_A, ...
    expr: Expr


class NumpyPrinter:
    """Prints expressions as NumPy, binding repeated subexpressions to temporaries."""

    def __init__(self, parameters: list[Symbol]) -> None:
        self.parameters = parameters
        self.names = {p.name: python_name(p.name) for p in parameters}
        self.dim_names: dict[sympy.Symbol, str] = {}
        self.temporaries: dict[Expr, str] = {}
        self.lines: list[str] = []
        self.helpers: set[str] = set()
        self.passed: dict[str, str] = {}
        self.dims_used: set[sympy.Symbol] = set()

    # ------------------------------------------------------------ function bodies
    @deep
    def body(self, outputs: list[Output], known: dict[Expr, str] | None = None) -> list[str]:
        """Statements computing the outputs, shared work done once.

        ``known`` maps nodes already computed (prepared data) to their names.
        """
        self.temporaries, self.lines, self.dims_used = dict(known or {}), [], set()
        self.missing_dims: set[sympy.Symbol] = set()
        if known is None:
            outputs = _with_shared_products(outputs)
        order = self._order(outputs)
        uses: dict[Expr, int] = {}
        for node in order:
            for child in node.children:
                uses[child] = uses.get(child, 0) + 1
        for out in outputs:
            uses[out.expr] = uses.get(out.expr, 0) + 1
        # A long sum gets a statement of its own and accumulates term by term: Python's
        # compiler recurses on a long chain of +.
        shared = [n for n in order if (uses.get(n, 0) > 1 and not self._cheap(n)
                                       or _long_sum(n) and n not in (o.expr for o in outputs))
                  and n not in self.temporaries]
        shared = self._with_square_roots(order, shared)
        pairs = _softmax_pairs(order)
        shared += [n for pair in pairs.values() for n in pair if n not in shared]
        shared = [n for n in order if n in set(shared)]
        counter = 0
        for node in shared:
            if node in self.temporaries:
                continue
            counter += 1
            name = f"t{counter}"
            pair = next((p for p in pairs.values() if node in p), None)
            if pair:
                # softmax and logsumexp of the same z: one pass of exp for both
                counter += 1
                names = (name, f"t{counter}")
                axis = pair[0].params[0] if pair[0].name == "logsumexp" else pair[1].params[0]
                softmax, lse = sorted(pair, key=lambda n: n.name != "softmax_all"
                                      and n.name != "softmax")
                self.helpers.add("_softmax_logsumexp")
                self.lines.append(f"{names[0]}, {names[1]} = _softmax_logsumexp("
                                  f"{self.code(softmax.arg)}, axis={axis})")
                self.temporaries[softmax], self.temporaries[lse] = names
                continue
            self.lines += self._assignment(name, node, f"  # {_shape_comment(node)}")
            self.temporaries[node] = name
        for out in outputs:
            if out.name == "value":
                self.lines.append(f"value = float({self.code(out.expr)})")
            else:
                self.lines += self._assignment(out.name, out.expr)
        return self._dimension_lines() + _reuse_dead_arrays(self.lines)

    def _assignment(self, name: str, e: Expr, comment: str = "") -> list[str]:
        """``name = e``; a sum or an elementwise product of arrays is accumulated in place
        into its first operand when that is a fresh array of the full shape."""
        operands = e.terms if isinstance(e, Add) else \
            _multiply_first(e.factors) if isinstance(e, Hadamard) else None
        target = kind(e)
        if _long_sum(e):
            # start from a sum of two, a fresh value, whatever the first term is
            first, operands = add(*e.terms[:2]), e.terms[2:]
            lines = [f"{name} = {self.aligned(first, target, ADD)}{comment}"]
        elif operands and kind(e) != "scalar" and self._fresh(operands[0]) \
                and operands[0].shape == e.shape:
            lines, operands = [f"{name} = {self.code(operands[0])}{comment}"], operands[1:]
        else:
            return [f"{name} = {self.code(e)}{comment}"]
        for operand in operands:
            if isinstance(e, Add):
                operator, operand = ("-=", neg(operand)) if self._subtracted(operand) \
                    else ("+=", operand)
                scaled = self._scaled_array(operand, e.shape)
                if scaled:
                    # c * (s / r): one new array, scaled in place, then added
                    scale, array = scaled
                    term = f"{name}_term"
                    lines += [f"{term} = {self.code(array)}  # {_shape_comment(array)}",
                              f"{term} *= {self.wrap(scale, MUL)}",
                              f"{name} {operator} {term}"]
                    continue
            else:
                base, exp = split_power(operand)
                negative = operand not in self.temporaries and bool(exp.is_number and exp < 0)
                operator, operand = ("/=", power(base, Const(-exp))) if negative \
                    else ("*=", operand)
            lines.append(f"{name} {operator} {self.aligned(operand, target, ADD)}")
        return lines

    def _scaled_array(self, term: Expr, shape) -> tuple[Expr, Expr] | None:
        """(scale, array) when the term is a scalar times a fresh array of the full shape."""
        if isinstance(term, MatMul) and term not in self.temporaries and len(term.chain) == 1:
            array = term.chain[0]
            if array.shape == shape and self._fresh(array) and not isinstance(array, MatMul):
                return mul(Const(term.coeff), *term.scalars), array
        return None

    def _subtracted(self, term: Expr) -> bool:
        """Whether a term of a sum is printed as ``- (its negation)``."""
        return term not in self.temporaries and (
            isinstance(term, MatMul) and term.coeff.could_extract_minus_sign()
            or isinstance(term, Const) and term.value.could_extract_minus_sign())

    def _fresh(self, e: Expr) -> bool:
        """Whether the code of e makes a new array (one we may then update in place)."""
        if e in self.temporaries or isinstance(e, (Symbol, Const, Identity, Broadcast)):
            return False
        if isinstance(e, Transpose) or isinstance(e, Func) and getattr(
                lookup(e.name), "numpy_view", False):
            return False   # views, which may be read-only
        if isinstance(e, MatMul):
            return len(e.chain) >= 2 or bool(e.scalars) or e.coeff != 1
        return True

    @staticmethod
    def _with_square_roots(order: list[Expr], shared: list[Expr]) -> list[Expr]:
        """Where b^(1/2) and b^(-1/2) are both needed, compute the root once: 1 / root."""
        present = set(order)
        roots = [Power(n.base, Const(HALF)) for n in order
                 if isinstance(n, Power) and n.exponent == Const(-HALF)
                 and Power(n.base, Const(HALF)) in present]
        if not roots:
            return shared
        wanted = set(shared) | set(roots)
        # Each root goes right after its base, before anything that divides by it.
        out: list[Expr] = []
        for node in order:
            if node in wanted and node not in roots:
                out.append(node)
            for root in roots:
                if root.base == node:
                    out.append(root)
        return out

    def _order(self, outputs: list[Output]) -> list[Expr]:
        return postorder([o.expr for o in outputs], lambda n: n not in self.temporaries)

    @staticmethod
    def _cheap(e: Expr) -> bool:
        if isinstance(e, (Symbol, Const, Identity)):
            return True
        if isinstance(e, Transpose):
            return isinstance(e.arg, Symbol)
        if isinstance(e, Broadcast):
            return isinstance(e.arg, (Symbol, Const))
        return False

    def _dimension_lines(self) -> list[str]:
        lines = []
        for dim in sorted(self.dims_used, key=str):
            source = self._dimension_source(dim)
            if source is None:
                self.missing_dims.add(dim)   # the caller provides it (hoisted code)
            else:
                lines.append(f"{self.dim_name(dim)} = {source}")
        return lines

    def _dimension_source(self, dim: sympy.Symbol) -> str | None:
        for p in self.parameters:
            for axis, d in enumerate(p.shape):
                if d == dim:
                    name = self.names[p.name]
                    return f"{name}.shape[{axis if kind(p) == 'matrix' else 0}]"
        return None

    def dim_name(self, dim: sympy.Symbol) -> str:
        name = str(dim)
        taken = set(self.names.values()) | {"np", "value"}
        return name + "_dim" if name in taken or keyword.iskeyword(name) else name

    # ------------------------------------------------------------ expressions
    def code(self, e: Expr) -> str:
        return self._code(e)[0]

    def _code(self, e: Expr) -> tuple[str, int]:
        if e in self.temporaries:
            return self.temporaries[e], ATOM
        return getattr(self, f"_print_{type(e).__name__}")(e)

    def wrap(self, e: Expr, level: int) -> str:
        text, prec = self._code(e)
        return f"({text})" if prec < level else text

    def aligned(self, e: Expr, target: str, level: int, strip: bool = True) -> str:
        """``e`` as an operand of an elementwise operation whose result has kind ``target``.

        ``strip``: another operand has the full shape, so NumPy broadcasts this one itself.
        """
        if strip and isinstance(e, Broadcast) and e not in self.temporaries:
            e = e.arg
        if target == "matrix" and kind(e) == "col":
            return f"{self.wrap(e, ATOM)}[:, None]"
        return self.wrap(e, level)

    def number(self, value: sympy.Expr) -> tuple[str, int]:
        for s in value.free_symbols:
            self.dims_used.add(s)
        if value.is_Integer:
            return (str(value), ATOM) if value >= 0 else (str(value), UNARY)
        if value.is_Rational:
            return f"{value.p} / {value.q}", MUL
        if value.is_Float:
            return repr(float(value)), ATOM
        renamed = value.subs({s: sympy.Symbol(self.dim_name(s)) for s in value.free_symbols})
        return sympy.pycode(renamed), MUL

    def _print_Shared(self, e: Shared) -> tuple[str, int]:
        return self._code(e.value)

    def _print_Symbol(self, e: Symbol) -> tuple[str, int]:
        if e.name not in self.names:
            # hoisted code: a datum the per-call code needs after all comes in `prepared`
            self.passed.setdefault(e.name, python_name(e.name))
            return self.passed[e.name], ATOM
        return self.names[e.name], ATOM

    def _print_Const(self, e: Const) -> tuple[str, int]:
        return self.number(e.value)

    def _shape_code(self, rows, cols) -> str:
        dims = [d for d in (rows, cols) if d != 1]
        parts = [self.number(sympy.sympify(d))[0] for d in dims]
        return parts[0] if len(parts) == 1 else f"({', '.join(parts)})"

    def _print_Identity(self, e: Identity) -> tuple[str, int]:
        return f"np.eye({self.number(e.shape[0])[0]})", ATOM

    def _print_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        shape = self._shape_code(*e.shape)
        inner = e.arg
        if inner.is_scalar:
            return f"np.full({shape}, {self.code(inner)}, dtype=float)", ATOM
        target = kind(e)
        operand = self.aligned(inner, target, ATOM) if target == "matrix" else self.wrap(inner, ATOM)
        return f"np.broadcast_to({operand}, {shape}).copy()", ATOM

    def _print_Add(self, e: Add) -> tuple[str, int]:
        target = kind(e)
        strip = _has_full_operand(e, e.terms)
        out = ""
        for i, term in enumerate(e.terms):
            if self._subtracted(term) and i > 0:
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
        chain = list(e.chain)
        if not chain:
            return sign + " * ".join(parts), (UNARY if negative else MUL)
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
        return sign + " * ".join(parts), (UNARY if negative else MUL)

    def _chain(self, chain: list[Expr], scaled: dict[int, str] | None = None
               ) -> tuple[str, int]:
        """The product of a chain, in the cheapest order; (code, precedence).

        ``scaled`` maps a factor's index to the scalar it is multiplied by first.
        """
        _, split = chain_order(chain_dims(chain, _size))
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
            return f"np.outer({left_code}, {right_code})", ATOM
        left = left_code if left_prec >= MUL else f"({left_code})"
        right = right_code if right_prec > MUL else f"({right_code})"
        # a 1x1 piece (x^T y) of a longer chain is a number: scale, don't multiply
        operator = "*" if "scalar" in (left_kind, right_kind) else "@"
        return f"{left} {operator} {right}", MUL

    def _print_Hadamard(self, e: Hadamard) -> tuple[str, int]:
        target = kind(e)
        strip = _has_full_operand(e, e.factors)
        text = ""
        factors = _multiply_first(e.factors)
        for i, f in enumerate(factors):
            base, exp = split_power(f)
            if i > 0 and exp.is_number and exp < 0:
                text += " / " + self.aligned(power(base, Const(-exp)), target, MUL + 1, strip)
            else:
                part = self.aligned(f, target, MUL + 1 if i else MUL, strip)
                text = part if i == 0 else text + " * " + part
        return text, MUL

    def _print_Power(self, e: Power) -> tuple[str, int]:
        base = e.base
        if isinstance(e.exponent, Const):
            p = e.exponent.value
            if p < 0 and isinstance(base, Func) and getattr(
                    lookup(base.name), "reciprocal_zero_at_zero", False):
                self.helpers.add("_inverse_or_zero")
                inverse = f"_inverse_or_zero({self.code(base)})"
                return (inverse, ATOM) if p == -1 else (f"{inverse} ** {-p}", POWER)
            if p == 2:
                return f"np.square({self.code(base)})", ATOM
            if p == HALF:
                return f"np.sqrt({self.code(base)})", ATOM
            if p == -1:
                return f"1.0 / {self.wrap(base, MUL + 1)}", MUL
            if p == -HALF:
                return f"1.0 / {self.wrap(Power(base, Const(HALF)), MUL + 1)}", MUL
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
            if isinstance(arg, Power) and arg.exponent == Const(2) and arg not in self.temporaries:
                x = self.code(arg.base)
                return f"np.vdot({x}, {x})", ATOM
            if isinstance(arg, Hadamard) and len(arg.factors) == 2 and arg not in self.temporaries \
                    and all(f.shape == arg.shape for f in arg.factors):
                a, b = (self.code(f) for f in arg.factors)
                return f"np.vdot({a}, {b})", ATOM
            return f"np.sum({self.code(arg)})", ATOM
        return f"{self.wrap(arg, ATOM)}.sum(axis={e.axis})", ATOM

    def _print_Func(self, e: Func) -> tuple[str, int]:
        arg = e.arg
        if e.name == "tr" and isinstance(arg, MatMul) and len(arg.chain) >= 2 \
                and arg not in self.temporaries:
            # tr(P Q) = <P^T, Q>: no product beyond what P needs is formed.
            *left, last = arg.chain
            scale = mul(Const(arg.coeff), *arg.scalars)
            first = transpose(mul(*left))
            if isinstance(first, Transpose) and isinstance(last, Transpose):
                first, last = first.arg, last.arg   # <P^T, Q^T> = <P, Q>, without copies
            inner = f"np.vdot({self.code(first)}, {self.code(last)})"
            if scale == Const(1):
                return inner, ATOM
            return f"{self.wrap(scale, MUL)} * {inner}", MUL
        row = lookup(e.name)
        spelling = row.numpy
        for helper in NUMPY_HELPERS:
            if helper + "(" in spelling:
                self.helpers.add(helper)
        axis = e.params[0] if e.params else None
        return spelling.format(*[self.code(a) for a in e.args], axis=axis), ATOM


LONG_SUM = 32


def _long_sum(e: Expr) -> bool:
    return isinstance(e, Add) and len(e.terms) > LONG_SUM


def _softmax_pairs(order: list[Expr]) -> dict[Expr, tuple[Expr, Expr]]:
    """For each z whose softmax and logsumexp (over the same axis) are both needed, the pair."""
    present = set(order)
    pairs = {}
    for node in order:
        if isinstance(node, Func) and node.name in ("softmax", "softmax_all"):
            axis = 0 if node.name == "softmax" else None
            lse = Func("logsumexp", node.args, (axis,),
                       (ONE, node.shape[1]) if axis == 0 else SCALAR)
            if lse in present:
                pairs[node.arg] = (node, lse)
    return pairs


def _multiply_first(factors) -> list[Expr]:
    """Multiply first, then divide: x / b^p costs one pass less than x * (1 / b^p)."""
    return sorted(factors, key=lambda f: bool(split_power(f)[1].is_number
                                              and split_power(f)[1] < 0))


# Elementwise operations NumPy can write into the array of a temporary they read.
_IN_PLACE = [
    (re.compile(r"^(\w+) = np\.(sqrt|square|exp|log|tanh|abs|sin|cos)\((t\d+)\)(  # .*)$"),
     lambda m: (m[1], m[3], f"np.{m[2]}({m[3]}, out={m[3]}){m[4]}")),
    (re.compile(r"^(\w+) = (\w+) / (t\d+)(  # .*)$"),
     lambda m: (m[1], m[3], f"np.divide({m[2]}, {m[3]}, out={m[3]}){m[4]}")),
]


def _reuse_dead_arrays(lines: list[str]) -> list[str]:
    """``t2 = np.sqrt(t1)`` where t1 is not used after: ``np.sqrt(t1, out=t1)``, t2 is t1."""
    shapes = {}
    for line in lines:
        match = re.match(r"^(\w+) = .*  # (.*)$", line)
        if match:
            shapes.setdefault(match.group(1), match.group(2))
    out = list(lines)
    for i, line in enumerate(out):
        for pattern, rewrite in _IN_PLACE:
            match = pattern.match(line)
            if not match:
                continue
            new, old, statement = rewrite(match)
            later = out[i + 1:]
            if shapes.get(new) != shapes.get(old) or shapes.get(old) in (None, "scalar") \
                    or any(re.search(rf"\b{old}\b", x) for x in later):   # floats: no out=
                continue
            out[i] = statement
            out[i + 1:] = [re.sub(rf"\b{new}\b", old, x) for x in later]
    return out


def _has_full_operand(e: Expr, operands) -> bool:
    return any(o.shape == e.shape and not isinstance(o, Broadcast) for o in operands)


def _with_shared_products(outputs: list[Output]) -> list[Output]:
    shared = share_products([o.expr for o in outputs], _run_cost)
    return [Output(o.name, e) for o, e in zip(outputs, shared)]


def _chain_kind(chain: list[Expr]) -> str:
    return kind_of_shape((chain[0].shape[0], chain[-1].shape[1]))


def _size(d) -> int:
    return int(d) if d.is_Integer else DEFAULT_DIMENSION


def _run_cost(run) -> int:
    return chain_order(chain_dims(run, _size))[0]


def _shape_comment(e: Expr) -> str:
    rows, cols = e.shape
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


def _docstring(summary: str, source: str, parameters: list[Symbol], notes: list[str],
               returns: str, extra_arguments: tuple[str, ...] = (),
               remarks: tuple[str, ...] = ()) -> list[str]:
    formula = " ".join(line.split("#")[0].strip() for line in source.splitlines()).strip()
    formula = formula.replace("\\", "\\\\").replace('"', '\\"')
    lines = [f'"""{summary}', "", f"    F = {formula}", "", "Arguments:"]
    lines += [f"    {python_name(p.name)}: {_kind_word(p)}" for p in parameters]
    lines += [f"    {argument}" for argument in extra_arguments]
    lines += ["", f"Returns {returns}."]
    if notes:
        lines += ["", "Non-smooth points:"] + [f"    {note}" for note in notes]
    if remarks:
        lines += [""] + list(remarks)
    return lines + ['"""']


def snippet(source: str, parameters: list[Symbol], value: Expr, gradients: dict[str, Expr],
            notes: list[str], directions: list[Symbol] = (), hvps: dict[str, Expr] | None = None,
            hessians: dict[str, Expr] | None = None) -> str:
    """The whole program of SPEC section 4 (with ``hvps``, its second order too)."""
    printer = NumpyPrinter(list(parameters) + list(directions))
    signature = ", ".join(printer.names[p.name] for p in parameters)
    grad_names = {name: f"grad_{name}" for name in gradients}
    functions = []
    outputs = [Output("value", value)] + [Output(grad_names[n], g) for n, g in gradients.items()]
    returned = ", ".join(o.name for o in outputs)
    functions.append(_function(
        "value_and_grad", signature, printer.body(outputs), returned,
        _docstring("Value of F and its gradients, sharing the work.", source, parameters, notes,
                   f"({returned})")))
    for name, gradient in gradients.items():
        functions.append(_function(
            grad_names[name], signature, printer.body([Output(grad_names[name], gradient)]),
            grad_names[name],
            _docstring(f"Gradient of F with respect to {name}.", source, parameters, notes,
                       f"dF/d{name}, shaped like {name}")))
    if hvps:
        functions += _second_order_functions(printer, source, parameters, notes, outputs,
                                             directions, hvps, hessians or {})
    helpers = [NUMPY_HELPERS[h] for h in sorted(printer.helpers)]
    return "\n\n\n".join(["import numpy as np"] + helpers + functions) + "\n"


def _second_order_functions(printer: NumpyPrinter, source: str, parameters: list[Symbol],
                            notes: list[str], first: list[Output], directions: list[Symbol],
                            hvps: dict[str, Expr], hessians: dict[str, Expr]) -> list[str]:
    """hvp(..., d_X, ...), value_grad_hvp(...) and hessian_X(...): the same bodies, with the
    directions as extra parameters and the products (or Hessians) as extra outputs."""
    names = [printer.names[p.name] for p in parameters]
    signature = ", ".join(names + [printer.names[d.name] for d in directions])
    extra = tuple(f"{printer.names[d.name]}: the direction of {name}, shaped like {name}"
                  for d, name in zip(directions, hvps))
    products = [Output(f"hvp_{name}", h) for name, h in hvps.items()]
    returned = ", ".join(o.name for o in products)
    together = ", ".join(o.name for o in first + products)
    functions = [
        _function("hvp", signature, printer.body(products), returned,
                  _docstring("Hessian-vector product: the derivative of the gradients along the "
                             "directions.", source, parameters, notes,
                             f"({returned})" if len(products) > 1 else
                             f"{returned}, shaped like {next(iter(hvps))}", extra)),
        _function("value_grad_hvp", signature, printer.body(first + products), together,
                  _docstring("Value, gradients and Hessian-vector products, sharing the work.",
                             source, parameters, notes, f"({together})", extra))]
    direction_of = dict(zip(hvps, directions))
    for name, hessian in hessians.items():
        remark = (f"It acts on {name}.reshape(-1, order='F'), the columns of {name} stacked.",) \
            if kind(direction_of[name]) == "matrix" else ()
        functions.append(_function(
            f"hessian_{name}", ", ".join(names),
            printer.body([Output(f"hessian_{name}", hessian)]), f"hessian_{name}",
            _docstring(f"Hessian of F with respect to {name}.", source, parameters, notes,
                       "a number" if hessian.is_scalar else "a matrix", remarks=remark)))
    return functions


def _function(name: str, signature: str, body: list[str], returned: str,
              docstring: list[str]) -> str:
    lines = [f"def {name}({signature}):"]
    lines += ["    " + line if line else "" for line in docstring]
    lines += ["    " + line for line in body]
    lines.append(f"    return {returned}")
    return "\n".join(lines)


def hoisted_snippet(source: str, parameters: list[Symbol], wrt: list[str], value: Expr,
                    gradients: dict[str, Expr], notes: list[str], expanded: bool) -> str:
    """``prepare(data...)`` once, then ``value_and_grad(variables..., prepared)`` per call."""
    variables = [p for p in parameters if p.name in wrt]
    data = [p for p in parameters if p.name not in wrt]
    outputs = [Output("value", value)] + [Output(f"grad_{n}", g) for n, g in gradients.items()]
    outputs = _with_shared_products(outputs)
    prepared = _prepared_nodes([o.expr for o in outputs], frozenset(wrt), data)
    computed = iter(range(1, len(prepared) + 1))
    names = {node: (python_name(node.name) if isinstance(node, Symbol) else f"p{next(computed)}")
             for node in prepared}
    per_call = NumpyPrinter(variables)
    call_body = per_call.body(outputs, known=names)
    # Data the per-call code rebuilt a piece around (-x from x) come along as they are.
    prepared += [s for s in data if s.name in per_call.passed and s not in names]
    names.update({s: per_call.passed[s.name] for s in prepared if s not in names})
    prepare = NumpyPrinter(data)
    computed = [Output(names[n], n) for n in prepared if not isinstance(n, Symbol)]
    prepare_body = prepare.body(computed) if computed else []
    dims = sorted(per_call.missing_dims, key=str)
    prepare.dims_used |= set(dims)
    prepare_body = [line for line in prepare._dimension_lines() if line not in prepare_body] \
        + prepare_body
    returned = [names[n] for n in prepared] + [per_call.dim_name(d) for d in dims]
    packed = ", ".join(returned) + ("," if len(returned) == 1 else "")
    unpack = [f"{packed} = prepared"] if returned else []
    note = ["The squared norms were expanded into traces of products of the data, computed",
            "once in prepare(): faster, but the value loses accuracy when the residual is",
            "small against the data."] if expanded else []
    returned_grads = ", ".join(o.name for o in outputs)
    prepare_doc = _docstring("Everything that does not involve " + ", ".join(wrt) +
                             ": call once, pass the result to value_and_grad.",
                             source, data, notes, "the prepared values, a tuple")
    call_doc = _docstring("Value of F and its gradients, from the prepared data.", source,
                          variables, notes, f"({returned_grads})",
                          ("prepared: the tuple prepare() returned",), tuple(note))
    helpers = [NUMPY_HELPERS[h] for h in sorted(per_call.helpers | prepare.helpers)]
    functions = [
        _function("prepare", ", ".join(prepare.names[p.name] for p in data), prepare_body,
                  f"({packed})", prepare_doc),
        _function("value_and_grad", ", ".join([per_call.names[p.name] for p in variables]
                                              + ["prepared"]),
                  unpack + call_body, returned_grads, call_doc),
    ]
    return "\n\n\n".join(["import numpy as np"] + helpers + functions) + "\n"


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
        own = set(node.shape) | (node.value.free_symbols if isinstance(node, Const) else set())
        dims[node] = own.union(*(dims[c] for c in node.children))

    def worth_preparing(node: Expr) -> bool:
        # Constants (ones, I) cost nothing per call; prepare() knows only the data's sizes.
        return not involves[node] and uses_data[node] and all(
            d.is_Integer or d in available for d in dims[node])
    found: dict[Expr, None] = {}
    for node in postorder(outputs, lambda n: involves[n]):
        if involves[node]:
            for child in node.children:
                if worth_preparing(child):
                    found.setdefault(child, None)
        elif node in outputs and worth_preparing(node):
            found.setdefault(node, None)
    return list(found)
