"""PyTorch code: the NumPy program spelled with ``torch``, on the arguments' device and dtype.

The statement program is the NumPy one (same functions, parameters, returns and
array conventions: a vector is 1-D), printed by a sibling of the NumPy printer.
Tensors go in and come out: a scalar argument is made a 0-d tensor of the
arrays' dtype and device first (a Python float is accepted too), and every
constant the code builds (an identity, a filled array) is made on that device
in that dtype. Nothing waits for the device: no ``.item()``, no ``float()``, no
branch on a value. The body runs under ``torch.no_grad()``, so no autograd graph
is built even for arguments that require grad. The program's in-place updates
(``t += b``, ``torch.exp(t, out=t)``) are kept: the passes allow them only on
temporaries that nothing reads afterwards, through any view.
"""
from __future__ import annotations

from ..expr.nodes import Broadcast, Const, Expr, Func, Power, Shared, Symbol, postorder
from ..printing.precedence import ATOM, POWER
from ..program import kind
from .numpy import NumpyPrinter, constants_like, expect_shape_helper

HELPERS: dict[str, str] = {
    "_inverse_or_zero": '''def _inverse_or_zero(n):
    # 1 / n, and 0 at n = 0 (the subgradient taken for a norm at 0), without a branch on
    # the value (which would wait for the device)
    return torch.where(n != 0, 1.0 / n, 0.0)''',
    "_softplus": '''def _softplus(z):
    # log(1 + exp(z)), accurate in both tails
    return torch.logaddexp(z, torch.zeros_like(z))''',
    "_step": '''def _step(z):
    return (z > 0).to(z.dtype)''',
    "_kron": '''def _kron(a, b):
    # torch.kron fails on a transposed (non-contiguous) operand ("view size is not
    # compatible", PyTorch 2.13); contiguous() copies only such an operand
    return torch.kron(a.contiguous(), b.contiguous())''',
    "_vec": '''def _vec(z):
    # the columns stacked (column-major), as vec(X) of the Hessian of a matrix variable
    return z.t().reshape(-1)''',
    "_softmax_all": '''def _softmax_all(z):
    # softmax over all entries, shifted by the maximum
    return torch.softmax(z.reshape(-1), 0).reshape(z.shape)''',
    "_softmax_logsumexp": '''def _softmax_logsumexp(z, axis=None):
    # softmax and logsumexp of the same z with one pass of exp, shifted by the maximum
    top = z.max() if axis is None else z.max(dim=axis).values
    e = torch.exp(z - top)
    total = e.sum() if axis is None else e.sum(dim=axis)
    return e / total, top + torch.log(total)''',
    "_torch": "_torch = torch  # a parameter is called torch: the functions reach it as _torch",
    "_expect_shape": expect_shape_helper("tuple(array.shape)"),
}


class TorchPrinter(NumpyPrinter):
    """The NumPy printer's program in ``torch``, in place where the program allows."""

    target, language = "torch", "PyTorch"
    module = "torch"
    imports = "import torch"
    helper_sources = HELPERS
    like = None   # the argument whose dtype (and device) constants take; set by spell()

    def spell(self, program, names) -> list[str]:
        # scalar arguments become tensors of its dtype and device
        self.like = constants_like(program.parameters)
        body = super().spell(program, names)
        # a Python float is a double, as in NumPy (torch's default dtype is float32)
        first = f", dtype=getattr({self.name(self.like)}, 'dtype', {self.np}.float64)" \
            if self.like is not None else ""
        scalars = [f"{self.name(p)} = {self.np}.as_tensor({self.name(p)}"
                   f"{first if p is self.like else self.constant_keywords()})"
                   for p in program.parameters if p.kind == "scalar" and p.role == "parameter"]
        lines = scalars + body
        return [f"with {self.np}.no_grad():"] + ["    " + line for line in lines] if lines else []

    def constant_keywords(self) -> str:
        """The dtype and device of the arguments, as keyword arguments of a constructor."""
        if self.like is None:
            return ""
        like = self.name(self.like)
        return f", dtype={like}.dtype, device={like}.device"

    def value(self, code: str) -> str:
        return code   # already a 0-d tensor: float() would wait for the device

    def copied(self, e: Expr) -> str:
        return f"{self.wrap(e, ATOM)}.clone()"   # a scalar argument too is the caller's tensor

    def vdot(self, a: Expr, b: Expr) -> str:
        # torch.vdot takes vectors only; tensordot contracts matrices without a product array
        if a == b and not self.is_bound(a):
            return f"{self.np}.sum({self.np}.square({self.code(a)}))"   # a computed once
        how = {"scalar": "mul", "col": "dot", "row": "dot"}.get(kind(a))
        if how is None:
            return f"{self.np}.tensordot({self.code(a)}, {self.code(b)}, dims=2)"
        return f"{self.np}.{how}({self.code(a)}, {self.code(b)})"

    def spelling(self, e: Func, args: list[str]) -> str:
        # a number argument becomes a tensor: torch's functions take tensors only
        args = [f"{self.np}.as_tensor({text}{self.constant_keywords()})" if constant(a)
                else text for a, text in zip(e.args, args)]
        return super().spelling(e, args)

    def statement(self, s) -> list[str]:
        if s.op == "assign" and isinstance(s.expr, Const):
            # a constant result (a gradient that is 0) is a tensor all the same
            number = self.number(s.expr.value)[0]
            return [f"{self.name(s.target)} = {self.np}.tensor({number}{self.constant_keywords()})"]
        if s.op == "assign" and s.target.role == "output" and s.expr.is_scalar \
                and constant(s.expr):
            # a number Python computes (2 - 0.5 ** 0.5) is a float: returned as a tensor too
            return [f"{self.name(s.target)} = {self.np}.as_tensor({self.code(s.expr)}"
                    f"{self.constant_keywords()})"]
        return super().statement(s)

    def _print_Power(self, e: Power) -> tuple[str, int]:
        if constant(e.base):   # a number: Python's power (torch.sqrt takes tensors)
            return f"{self.wrap(e.base, POWER + 1)} ** {self.wrap(e.exponent, POWER + 1)}", POWER
        return super()._print_Power(e)

    def _print_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        shape = self._shape_code(*e.shape)
        inner = e.arg
        if isinstance(inner, Const):
            size = shape if shape.startswith("(") else f"({shape},)"
            return f"{self.np}.full({size}, {self.code(inner)}{self.constant_keywords()})", ATOM
        if constant(inner):   # 3 ** (1 / 2), a Python float: no .expand
            return f"{self.np}.as_tensor({self.code(inner)}{self.constant_keywords()})" \
                f".expand({shape}).clone()", ATOM
        return f"{self.repeated(e)}.expand({shape}).clone()", ATOM


def constant(e: Expr) -> bool:
    """Whether e is a number (2 ** (1 / 2), tanh of it), which Python may compute as a float."""
    return not any(isinstance(n, (Symbol, Shared)) for n in postorder([e]))
