"""The three worked examples of UFLDL's "Deriving gradients using the backpropagation idea".

Each test gives the cost, the layer table the note draws, the corrected result,
and the numerical check.
"""
from __future__ import annotations

import re

import pytest

import derive
from derive.printing.text import to_text

from conftest import finite_difference_error, run, without_kinds

SPARSE_CODING = "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2"
SPARSE_SHAPES = {"s": ("n", "k"), "x": ("m", "k")}
TOPOGRAPHIC = "sum(sqrt(V*(s.^2) + eps))"
ICA = "norm(W'*W*x - x)^2"


def table(formula: str, wrt: str, shapes=None, network: int = 0) -> list[tuple[str, str, str]]:
    net = derive.gradient(formula, wrt, shapes).layers[network]
    rows = []
    for layer in net.layers:
        weight = to_text(layer.weight) if layer.weight is not None else (
            "I" if layer.is_identity_weight else "none")
        derivative = layer.derivative if isinstance(layer.derivative, str) \
            else to_text(layer.derivative)
        rows.append((weight, to_text(layer.activation), derivative))
    return rows


def test_sparse_coding_layers_read_s_through_weight_A():
    assert table(SPARSE_CODING, "A", SPARSE_SHAPES) == [
        ("A", "z", "1"),
        ("I", "z - x", "1"),
        ("none", "z.^2", "2 z"),
    ]


def test_sparse_coding_gradient_wrt_A():
    code, out, _ = run("grad", SPARSE_CODING, "--wrt", "A", "--shape", "s=n,k", "--shape", "x=m,k")
    assert code == 0
    assert without_kinds(out) == "grad_A = 2 (A s - x) s^T + 2 gamma A\n"
    assert finite_difference_error(SPARSE_CODING, ["A"], SPARSE_SHAPES) < 1e-6


def test_sparse_coding_gradient_wrt_s_is_what_the_tutorial_printed_for_A():
    code, out, _ = run("grad", SPARSE_CODING, "--wrt", "s", "--shape", "s=n,k", "--shape", "x=m,k")
    assert without_kinds(out) == "grad_s = 2 A^T (A s - x)\n"
    assert finite_difference_error(SPARSE_CODING, ["s"], SPARSE_SHAPES) < 1e-6


def test_topographic_layers_are_the_four_of_the_note():
    assert table(TOPOGRAPHIC, "s", {"s": ("n", "k")}) == [
        ("I", "z.^2", "2 z"),
        ("V", "z", "1"),
        ("I", "z + eps", "1"),
        ("none", "sqrt(z)", "z.^(-1/2) / 2"),
    ]
    code, out, _ = run("layers", TOPOGRAPHIC, "--wrt", "s", "--shape", "s=n,k")
    assert code == 0 and "sqrt(z)" in out and "z + eps" in out


def test_topographic_gradient():
    code, out, _ = run("grad", TOPOGRAPHIC, "--wrt", "s", "--shape", "s=n,k")
    assert without_kinds(out) == "grad_s = (V^T (V s.^2 + eps).^(-1/2)) .* s\n"
    assert finite_difference_error(TOPOGRAPHIC, ["s"], {"s": ("n", "k")}) < 1e-6


def test_ica_layers_have_W_twice():
    assert table(ICA, "W") == [
        ("W", "z", "1"),
        ("W^T", "z", "1"),
        ("I", "z - x", "1"),
        ("none", "z.^2", "2 z"),
    ]


def test_ica_gradient_sums_both_uses_of_W():
    d = derive.gradient(ICA, "W")
    shares = [to_text(share) for _, share in d.result.contributions["W"]]
    assert sorted(shares) == sorted(["2 W (W^T W x - x) x^T", "2 W x (W^T W x - x)^T"])
    code, out, _ = run("grad", ICA, "--wrt", "W")
    assert without_kinds(out) == "grad_W = 2 W (W^T W x - x) x^T + 2 W x (W^T W x - x)^T\n"
    assert finite_difference_error(ICA, ["W"]) < 1e-6


@pytest.mark.parametrize("formula, wrt, shapes", [
    (SPARSE_CODING, "A", ["--shape", "s=n,k", "--shape", "x=m,k"]),
    (SPARSE_CODING, "s", ["--shape", "s=n,k", "--shape", "x=m,k"]),
    (TOPOGRAPHIC, "s", ["--shape", "s=n,k"]),
    (ICA, "W", []),
])
def test_derive_check_passes(formula, wrt, shapes):
    code, out, _ = run("check", formula, "--wrt", wrt, *shapes)
    assert code == 0, out
    assert "PASS" in out


def steps(formula: str, wrt: str, *options: str) -> tuple[list[str], list[str], list[str]]:
    """The forward pass, the backward pass and the gradients of ``--steps``, line by line."""
    code, out, _ = run("grad", formula, "--wrt", wrt, "--steps", *options)
    assert code == 0, out
    sections = re.split(r"^(?:Forward pass|Backward pass|Gradients|Result):.*$", out, flags=re.M)
    return tuple([line.strip() for line in part.strip("\n").splitlines()]
                 for part in sections[1:4])


def test_sparse_coding_steps_are_the_note_s_three_layers():
    """z(1) = s, z(2) = A s (weight A), z(3) = z(2) - x, a(3) = z(3)^2;
    delta(3) = 2 (A s - x), delta(2) = delta(3), and A gets delta(2) a(1)^T."""
    forward, backward, gradients = steps(SPARSE_CODING, "A", "--shape", "s=n,k",
                                         "--shape", "x=m,k")
    assert forward == ["z2 = A s", "z3 = z2 - x", "a3 = z3.^2",
                       "F = sum(a3) + gamma sum(A.^2)"]
    assert backward == ["delta3 = 2 z3", "delta2 = delta3"]
    assert gradients == ["grad_A = delta2 s^T + 2 gamma A"]


def test_topographic_steps_are_the_note_s_four_layers():
    """Layer 1 squares s (weight I), layer 2 is the weight V, layer 3 adds eps, layer 4 takes
    the square root; delta(4) = f'(z(4)), then back through each layer to grad_s = delta(1)."""
    forward, backward, gradients = steps(TOPOGRAPHIC, "s", "--shape", "s=n,k")
    assert forward == ["z2 = s.^2", "z3 = V z2", "z4 = z3 + eps", "a4 = sqrt(z4)",
                       "F = sum(a4)"]
    assert backward == ["delta4 = z4.^(-1/2) / 2", "delta3 = delta4", "delta2 = V^T delta3",
                        "delta1 = 2 (delta2 .* s)"]
    assert gradients == ["grad_s = delta1"]
    code, out, _ = run("grad", TOPOGRAPHIC, "--wrt", "s", "--shape", "s=n,k", "--steps")
    assert "the input is z(1) = s." in out


def test_ica_steps_are_the_note_s_four_layers_with_W_twice():
    """Layer 1 is the weight W, layer 2 the weight W^T: W gets delta(2) a(1)^T = delta2 x^T
    as the weight of layer 1 and, transposed, z(2) delta(3)^T as that of layer 2."""
    forward, backward, gradients = steps(ICA, "W")
    assert forward == ["z2 = W x", "z3 = W^T z2", "z4 = z3 - x", "a4 = z4.^2", "F = sum(a4)"]
    assert backward == ["delta4 = 2 z4", "delta3 = delta4", "delta2 = W delta3"]
    assert gradients == ["grad_W = z2 delta3^T + delta2 x^T"]
    code, out, _ = run("grad", ICA, "--wrt", "W", "--steps", "--format", "latex")
    assert r"{z^{(3)}} &= W^{\top} {z^{(2)}}" in out and r"{\delta^{(4)}} &= 2 {z^{(4)}}" in out
    assert r"\nabla_{W} F &= " in out


@pytest.mark.parametrize("formula, wrt, shapes", [
    (SPARSE_CODING, "A", ["--shape", "s=n,k", "--shape", "x=m,k"]),
    (TOPOGRAPHIC, "s", ["--shape", "s=n,k"]),
    (ICA, "W", []),
])
def test_steps_define_no_activation_nothing_uses(formula, wrt, shapes):
    forward, backward, gradients = steps(formula, wrt, *shapes)
    later = " ".join(forward + backward + gradients)
    for line in forward[:-1]:
        name = line.split(" = ")[0]
        assert len(re.findall(rf"\b{name}\b", later)) >= 2, (name, forward)


def test_steps_of_a_softmax_network_take_every_path():
    """The delta of the output layer's input carries both paths of the cross-entropy (the
    linear term and the logsumexp), so the deltas shown add up to the printed gradient."""
    code, out, _ = run("recipe", "mlp_softmax", "--steps")
    assert code == 0
    derivation = out.split("Result:\n")[0]
    for line in ["  z1 = W1 X + b1", "  H = sigmoid(z1)", "  z2 = W2 H + b2",
                 "  delta2 = (P - Y) / m", "  delta_H = W2^T delta2",
                 "  delta1 = delta_H .* H .* (1 - H)", "  grad_W1 = delta1 X^T + lambda W1",
                 "  grad_b1 = sum(delta1, 2)", "  grad_W2 = delta2 H^T + lambda W2",
                 "  grad_b2 = sum(delta2, 2)"]:
        assert line + "\n" in derivation, line
