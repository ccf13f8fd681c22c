r"""Formulas pasted from a paper (docs/latex-input.md): costs as papers write them, read as the cost meant.

Each entry of the corpus is a cost in the LaTeX of a paper, tied to the same cost in derive's
text language. The reading is compared with the reference by value, on random data, by the
oracle of ``tests/oracle.py`` (a parser and interpreter of the text language that share
nothing with derive). What a paper leaves to its reader (``\sigma(z)``, ``|X|``, an
unsubscripted ``\|X\|`` of a matrix, index notation) is refused, with the readings to choose
from and a caret into the LaTeX.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from conftest import run

import derive
from support import oracle
from derive.errors import DeriveError
from derive.frontend.latex import read_latex

# Sizes of the dimensions the corpus uses.
DIMS = {"m": 5, "n": 4, "k": 3, "p": 2}


@dataclass
class Paper:
    """A cost as a paper writes it, and the cost meant, in derive's language."""
    name: str
    latex: str
    reference: str
    shapes: dict                     # every variable: () scalar, ("n",) vector, ("m", "n")
    spd: tuple = ()                  # matrices drawn symmetric positive definite
    positive: tuple = ()             # drawn with positive entries
    assume: dict = field(default_factory=dict)      # sigma=sigmoid
    sizes: dict = field(default_factory=dict)       # sizes derive infers (n_1: "n")
    wrt: str = ""

    def functions(self) -> dict:
        return {n: f for n, f in self.assume.items() if f == "sigmoid"}


S, V, M = (), ("n",), ("m", "n")
CORPUS = [
    # Sparse coding and its topographic form (UFLDL)
    Paper("sparse coding", r"\|As - x\|_F^2 + \lambda \sum \sqrt{s^{\circ 2} + \epsilon} "
          r"+ \gamma \|A\|_F^2",
          "norm(A*s - x, 'fro')^2 + lambda*sum(sqrt(s.^2 + eps)) + gamma*norm(A, 'fro')^2",
          {"A": ("m", "n"), "s": ("n", "k"), "x": ("m", "k"), "lambda": S, "gamma": S,
           "eps": S}),
    Paper("sparse coding, lVert", r"\lVert A s - x \rVert_2^2 + \lambda\, \mathbf{1}^\top "
          r"\sqrt{s \odot s + \varepsilon}",
          "norm(A*s - x)^2 + lambda*ones(n, 1)'*sqrt(s .* s + eps)",
          {"A": M, "s": V, "x": ("m",), "lambda": S, "eps": S}, sizes={"n_1": "n"}),
    Paper("topographic sparse coding", r"\left\| A s - x \right\|_F^2 + \lambda \sum "
          r"\sqrt{V s^{\circ 2} + \epsilon} + \gamma \left\| A \right\|_F^2",
          "norm(A*s - x, 'fro')^2 + lambda*sum(sqrt(V*(s.^2) + eps)) + gamma*norm(A, 'fro')^2",
          {"A": M, "s": ("n", "k"), "x": ("m", "k"), "V": ("n", "n"), "lambda": S, "gamma": S,
           "eps": S}, positive=("V",)),
    # ICA
    Paper("ICA, orthonormal", r"\left\| W^{\mathsf{T}} W X - X \right\|_F^2",
          "norm(W'*W*X - X, 'fro')^2", {"W": ("k", "n"), "X": ("n", "m")}),
    Paper("RICA", r"\lambda \|W x\|_1 + \frac{1}{2}\|W^\top W x - x\|_2^2",
          "lambda*norm(W*x, 1) + 1/2*norm(W'*W*x - x)^2", {"W": ("k", "n"), "x": V, "lambda": S}),
    Paper("RICA, smoothed", r"\lambda \sum \sqrt{(WX)^{\circ 2} + \epsilon} + \frac{1}{2}"
          r"\|W^T W X - X\|_F^2",
          "lambda*sum(sqrt((W*X).^2 + eps)) + norm(W'*W*X - X, 'fro')^2/2",
          {"W": ("k", "n"), "X": ("n", "m"), "lambda": S, "eps": S}),
    # Regression
    Paper("ridge", r"\|Xw - y\|_2^2 + \lambda \|w\|_2^2", "norm(X*w - y)^2 + lambda*norm(w)^2",
          {"X": ("m", "n"), "w": V, "y": ("m",), "lambda": S}),
    Paper("ridge, halves", r"\frac{1}{2N}\|X w - y\|^2 + \frac{\lambda}{2}\|w\|^2",
          "norm(X*w - y)^2/(2*N) + lambda/2*norm(w)^2",
          {"X": ("m", "n"), "w": V, "y": ("m",), "lambda": S, "N": S}),
    Paper("lasso", r"\frac{1}{2}\|y - X\beta\|_2^2 + \lambda\|\beta\|_1",
          "1/2*norm(y - X*beta)^2 + lambda*norm(beta, 1)",
          {"X": ("m", "n"), "beta": V, "y": ("m",), "lambda": S}),
    Paper("elastic net", r"\|Xw - y\|_2^2 + \lambda_1 \|w\|_1 + \lambda_2 \|w\|_2^2",
          "norm(X*w - y)^2 + lambda1*norm(w, 1) + lambda2*norm(w)^2",
          {"X": ("m", "n"), "w": V, "y": ("m",), "lambda1": S, "lambda2": S}),
    Paper("smoothed lasso", r"\|Xw - y\|^2 + \lambda \sum \sqrt{w^{\circ 2} + \varepsilon}",
          "norm(X*w - y)^2 + lambda*sum(sqrt(w.^2 + eps))",
          {"X": ("m", "n"), "w": V, "y": ("m",), "lambda": S, "eps": S}),
    Paper("least squares, primes", r"(Ax - b)'(Ax - b)", "(A*x - b)'*(A*x - b)",
          {"A": M, "x": V, "b": ("m",)}),
    Paper("least squares, dfrac", r"\dfrac{1}{2}\left\lVert A x - b \right\rVert_{2}^{2} + "
          r"\dfrac{\mu}{2}\left\lVert x \right\rVert_{2}^{2}",
          "1/2*norm(A*x - b)^2 + mu/2*norm(x)^2", {"A": M, "x": V, "b": ("m",), "mu": S}),
    Paper("least squares, pasted from a PDF", "‖Ax − b‖_2^2", "norm(A*x - b)^2",
          {"A": M, "x": V, "b": ("m",)}),
    Paper("generalized least squares", r"r = y - X\beta; \; r^\top \Sigma^{-1} r",
          "r = y - X*beta; r'*inv(Sigma)*r",
          {"X": ("m", "n"), "beta": V, "y": ("m",), "Sigma": ("m", "m")}, spd=("Sigma",)),
    Paper("Poisson regression", r"\sum \left(e^{X w} - y \odot (X w)\right)",
          "sum(exp(X*w) - y .* (X*w))", {"X": ("m", "n"), "w": V, "y": ("m",)}),
    Paper("TV denoising", r"\frac{1}{2}\|x - y\|_2^2 + \lambda \sum \sqrt{(D x)^{\circ 2} "
          r"+ \epsilon}", "norm(x - y)^2/2 + lambda*sum(sqrt((D*x).^2 + eps))",
          {"x": V, "y": V, "D": ("n", "n"), "lambda": S, "eps": S}),
    # Classification
    Paper("logistic regression", r"\sum \log\left(1 + \exp\left(-y \odot (X w)\right)\right)",
          "sum(log(1 + exp(-y .* (X*w))))", {"X": ("m", "n"), "w": V, "y": ("m",)}),
    Paper("logistic regression, e^", r"\frac{1}{N}\mathbf{1}_m^\top \log(1 + e^{-y \odot "
          r"(X\theta)})", "ones(m, 1)'*log(1 + exp(-y .* (X*theta)))/N",
          {"X": ("m", "n"), "theta": V, "y": ("m",), "N": S}),
    Paper("logistic regression, sigma", r"-\sum \left( y \odot \log \sigma(Xw) + (1 - y) "
          r"\odot \log(1 - \sigma(X w)) \right)",
          "-sum(y .* log(sigmoid(X*w)) + (1 - y) .* log(1 - sigmoid(X*w)))",
          {"X": ("m", "n"), "w": V, "y": ("m",)}, assume={"sigma": "sigmoid"}),
    Paper("logistic regression, align", r"""\begin{align*}
          h &= \operatorname{sigmoid}(Xw) \\
          J &= -\frac{1}{N}\sum \left(y \odot \log h + (1-y)\odot\log(1-h)\right)
          \end{align*}""", "h = sigmoid(X*w); -sum(y .* log(h) + (1 - y) .* log(1 - h))/N",
          {"X": ("m", "n"), "w": V, "y": ("m",), "N": S}),
    Paper("logistic loss, one example", r"\log(1 + \exp(-y\, \mathbf{w}^\top \mathbf{x}))",
          "log(1 + exp(-y*w'*x))", {"w": V, "x": V, "y": S}),
    Paper("softplus loss", r"\sum \operatorname{softplus}(-y \odot (X w))",
          "sum(softplus(-y .* (X*w)))", {"X": ("m", "n"), "w": V, "y": ("m",)}),
    Paper("squared hinge", r"\frac{\lambda}{2}\|w\|^2 + \sum \operatorname{relu}(1 - y \odot "
          r"(Xw))^{\circ 2}", "lambda/2*norm(w)^2 + sum(relu(1 - y .* (X*w)).^2)",
          {"X": ("m", "n"), "w": V, "y": ("m",), "lambda": S}),
    Paper("softmax regression", r"-\frac{1}{N} \sum Y \odot \log \operatorname{softmax}"
          r"(\Theta X) + \frac{\lambda}{2}\|\Theta\|_F^2",
          "-sum(sum(Y .* log(softmax(Theta*X))))/N + lambda/2*norm(Theta, 'fro')^2",
          {"Theta": ("k", "n"), "X": ("n", "m"), "Y": ("k", "m"), "N": S, "lambda": S}),
    Paper("softmax regression, mathrm", r"\mathcal{L}(\Theta) = -\sum Y \circ \log "
          r"\mathrm{softmax}(\Theta X)", "-sum(Y .* log(softmax(Theta*X)))",
          {"Theta": ("k", "n"), "X": ("n", "m"), "Y": ("k", "m")}),
    Paper("log-sum-exp", r"\operatorname{logsumexp}(W x) - y^\top W x",
          "logsumexp(W*x) - y'*W*x", {"W": ("k", "n"), "x": V, "y": ("k",)}),
    Paper("log-sum-exp, spelled out", r"\log \sum e^{x} - c^\top x", "log(sum(exp(x))) - c'*x",
          {"x": V, "c": V}),
    # PCA, traces
    Paper("PCA reconstruction", r"\|X - W W^\top X\|_F^2", "norm(X - W*W'*X, 'fro')^2",
          {"W": ("n", "k"), "X": ("n", "m")}),
    Paper("PCA, trace", r"-\operatorname{tr}(W^\top S W)", "-tr(W'*S*W)",
          {"W": ("n", "k"), "S": ("n", "n")}),
    Paper("PCA, mathrm trace", r"\mathrm{tr}\left(W^\top \Sigma W\right)", "tr(W'*Sigma*W)",
          {"W": ("n", "k"), "Sigma": ("n", "n")}),
    Paper("trace quadratic", r"\operatorname{tr}(X^\top A X) - 2\operatorname{tr}(B^\top X)",
          "tr(X'*A*X) - 2*tr(B'*X)", {"X": ("n", "k"), "A": ("n", "n"), "B": ("n", "k")}),
    Paper("Frobenius as a trace", r"\operatorname{Tr}\left((Y - XW)^\top (Y - XW)\right)",
          "tr((Y - X*W)'*(Y - X*W))", {"Y": ("m", "k"), "X": ("m", "n"), "W": ("n", "k")}),
    Paper("diagonal weighting", r"\operatorname{tr}(\operatorname{diag}(w) S)",
          "tr(diag(w)*S)", {"w": V, "S": ("n", "n")}),
    # Gaussians, log determinants
    Paper("Gaussian NLL", r"\frac{N}{2}\log\det\Sigma + \frac{1}{2}\operatorname{tr}\left("
          r"\Sigma^{-1}(X - \mu)(X - \mu)^\top\right)",
          "N/2*logdet(Sigma) + 1/2*tr(inv(Sigma)*(X - mu)*(X - mu)')",
          {"Sigma": ("n", "n"), "X": ("n", "m"), "mu": V, "N": S}, spd=("Sigma",)),
    Paper("Mahalanobis", r"(x - \mu)^\top \Sigma^{-1} (x - \mu) + \log\det\Sigma",
          "(x - mu)'*inv(Sigma)*(x - mu) + logdet(Sigma)",
          {"x": V, "mu": V, "Sigma": ("n", "n")}, spd=("Sigma",)),
    Paper("GP marginal likelihood", r"\frac{1}{2} y^\top (K + \sigma^2 I)^{-1} y + \frac{1}{2}"
          r"\log\det(K + \sigma^2 I)",
          "1/2*y'*inv(K + sigma^2*eye(n))*y + 1/2*logdet(K + sigma^2*eye(n))",
          {"y": V, "K": ("n", "n"), "sigma": S}, spd=("K",), sizes={"n_1": "n", "n_2": "n"}),
    Paper("GP, bold", r"\tfrac12 \mathbf{y}^\top \mathbf{K}^{-1}\mathbf{y} + \tfrac12 \log\det "
          r"\mathbf{K}", "1/2*y'*inv(K)*y + 1/2*logdet(K)", {"y": V, "K": ("n", "n")},
          spd=("K",)),
    Paper("graphical lasso, smooth", r"\operatorname{tr}(S \Theta) - \log\det\Theta + \lambda"
          r"\|\Theta\|_F^2", "tr(S*Theta) - logdet(Theta) + lambda*norm(Theta, 'fro')^2",
          {"S": ("n", "n"), "Theta": ("n", "n"), "lambda": S}, spd=("Theta",)),
    Paper("ridge, identity sized", r"\|y - Xw\|^2 + w^\top (\lambda I_n) w",
          "norm(y - X*w)^2 + w'*(lambda*eye(n))*w",
          {"X": ("m", "n"), "w": V, "y": ("m",), "lambda": S}),
    # Factorisations
    Paper("NMF", r"\|X - WH\|_F^2", "norm(X - W*H, 'fro')^2",
          {"X": ("m", "n"), "W": ("m", "k"), "H": ("k", "n")}),
    Paper("NMF, regularised", r"\frac{1}{2}\|V - W H\|_F^2 + \frac{\lambda}{2}(\|W\|_F^2 "
          r"+ \|H\|_F^2)", "1/2*norm(V - W*H, 'fro')^2 + lambda/2*(norm(W, 'fro')^2 + "
          "norm(H, 'fro')^2)", {"V": ("m", "n"), "W": ("m", "k"), "H": ("k", "n"), "lambda": S}),
    Paper("matrix completion", r"\| M \odot (U V^\top - R) \|_F^2 + \lambda (\|U\|_F^2 + "
          r"\|V\|_F^2)", "norm(M .* (U*V' - R), 'fro')^2 + lambda*(norm(U, 'fro')^2 + "
          "norm(V, 'fro')^2)", {"M": ("m", "n"), "U": ("m", "k"), "V": ("n", "k"),
                                "R": ("m", "n"), "lambda": S}),
    Paper("masked, circ", r"\|A \circ (X - Y)\|_F^2", "norm(A .* (X - Y), 'fro')^2",
          {"A": M, "X": M, "Y": M}),
    # Networks
    Paper("autoencoder", r"\frac{1}{2}\left\| W_2 \operatorname{sigmoid}(W_1 X + b_1) + b_2 - X "
          r"\right\|_F^2", "1/2*norm(W2*sigmoid(W1*X + b1) + b2 - X, 'fro')^2",
          {"W1": ("k", "n"), "b1": ("k",), "W2": ("n", "k"), "b2": V, "X": ("n", "m")}),
    Paper("autoencoder, align", r"""\begin{align*}
          H &= \sigma(W^{(1)} X + b^{(1)}) \\
          \hat{X} &= W^{(2)} H + b^{(2)} \\
          J &= \frac{1}{2N}\|\hat{X} - X\|_F^2
          \end{align*}""", "H = sigmoid(W1*X + b1); X_hat = W2*H + b2; "
          "norm(X_hat - X, 'fro')^2/(2*N)",
          {"W1": ("k", "n"), "b1": ("k",), "W2": ("n", "k"), "b2": V, "X": ("n", "m"), "N": S},
          assume={"sigma": "sigmoid"}),
    Paper("two-layer tanh", r"\| W_2 \tanh(W_1 X + b_1) + b_2 - Y\|_F^2",
          "norm(W2*tanh(W1*X + b1) + b2 - Y, 'fro')^2",
          {"W1": ("k", "n"), "b1": ("k",), "W2": ("p", "k"), "b2": ("p",), "X": ("n", "m"),
           "Y": ("p", "m")}),
    Paper("MLP, softmax", r"""H &= \operatorname{sigmoid}(W_1 X + b_1) \\
          P &= \operatorname{softmax}(W_2 H + b_2) \\
          \mathcal{L} &= -\frac{1}{N}\sum Y \odot \log P + \frac{\lambda}{2}\left(\|W_1\|_F^2 +
          \|W_2\|_F^2\right)""",
          "H = sigmoid(W1*X + b1); P = softmax(W2*H + b2); -sum(Y .* log(P))/N + "
          "lambda/2*(norm(W1, 'fro')^2 + norm(W2, 'fro')^2)",
          {"W1": ("k", "n"), "b1": ("k",), "W2": ("p", "k"), "b2": ("p",), "X": ("n", "m"),
           "Y": ("p", "m"), "N": S, "lambda": S}),
    Paper("encoder with labels", r"\|W_{\text{dec}} \tanh(W_{\text{enc}} x) - x\|^2",
          "norm(W_dec*tanh(W_enc*x) - x)^2", {"W_enc": ("k", "n"), "W_dec": ("n", "k"), "x": V}),
    # Notation
    Paper("quadratic, cdot", r"\frac{1}{2} x^{\top} \cdot A \cdot x - b^{\top} x",
          "1/2*x'*A*x - b'*x", {"x": V, "A": ("n", "n"), "b": V}),
    Paper("named cost with arguments", r"\mathcal{L}(W) = \|W X - Y\|_F^2",
          "norm(W*X - Y, 'fro')^2", {"W": ("k", "n"), "X": ("n", "m"), "Y": ("k", "m")}),
    Paper("minimisation", r"\min_{A, s} \; \|As - x\|_F^2 + \lambda\|s\|_1",
          "norm(A*s - x, 'fro')^2 + lambda*norm(s, 1)", {"A": M, "s": V, "x": ("m",),
                                                          "lambda": S}),
    Paper("primes", r"\|W'Wx - x\|^2", "norm(W'*W*x - x)^2", {"W": ("k", "n"), "x": V}),
    Paper("sized brackets", r"\big( x^\top A x \big)^2 + \Bigl(\sum x\Bigr)^2",
          "(x'*A*x)^2 + sum(x)^2", {"x": V, "A": ("n", "n")}),
    Paper("centering", r"\|x - \bar{x}\|^2 + \hat{\rho}^\top x", "norm(x - x_bar)^2 + rho_hat'*x",
          {"x": V, "x_bar": V, "rho_hat": V}),
    Paper("square root", r"\sqrt{x^\top x + \epsilon}", "sqrt(x'*x + eps)", {"x": V, "eps": S}),
    Paper("ones, sized", r"\mathbf{1}_{m}^\top (X \odot X) \mathbf{1}_n", "sum(sum(X .* X))",
          {"X": M}),
    Paper("display math", r"$$ F = \frac12 \|X\|_F^2 \, , $$", "1/2*norm(X, 'fro')^2", {"X": M}),
]


def _data(paper: Paper, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    values = {}
    for name, dims in paper.shapes.items():
        sizes = [DIMS[d] for d in dims]
        shape = (1, 1) if not sizes else (sizes[0], 1) if len(sizes) == 1 else tuple(sizes)
        if not sizes:
            values[name] = rng.uniform(0.5, 2.0, (1, 1))      # counts and weights: positive
        elif name in paper.positive:
            values[name] = np.abs(rng.standard_normal(shape))
        elif name in paper.spd:
            a = rng.standard_normal(shape)
            values[name] = a @ a.T + shape[0] * np.eye(shape[0])
        else:
            values[name] = rng.standard_normal(shape)
    return values


def _value(text: str, paper: Paper, values: dict) -> float:
    dims = dict(DIMS, **{fresh: DIMS[d] for fresh, d in paper.sizes.items()})
    with np.errstate(all="ignore"):
        return float(oracle.Interpreter().value(oracle.parse(text), values, dims)[0, 0])


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 40
    assert len({p.name for p in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("paper", CORPUS, ids=lambda p: p.name)
def test_reads_as_the_cost_meant(paper):
    scalars = {name: not dims for name, dims in paper.shapes.items()}
    reading = read_latex(paper.latex, paper.functions(), scalars)
    for seed in range(3):
        values = _data(paper, seed)
        expected = _value(paper.reference, paper, values)
        got = _value(reading.text, paper, values)
        assert np.isfinite(expected), paper.reference
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), reading.text


@pytest.mark.parametrize("paper", CORPUS[::4], ids=lambda p: p.name)
def test_derives_the_same_gradient_as_the_text(paper):
    """Everything after the reader is shared: the gradient of the reading is the text's."""
    variable = next(n for n, d in paper.shapes.items() if d)
    assume = dict(paper.assume, **{n: "spd" for n in paper.spd})
    from_latex = derive.gradient(latex=paper.latex, wrt=variable, shapes=paper.shapes,
                                 assume=assume)
    text_assume = {n: p for n, p in assume.items() if p != "sigmoid"}
    from_text = derive.gradient(paper.reference, variable, paper.shapes, text_assume)
    arguments = {oracle.python_name(n): float(v[0, 0]) if not paper.shapes[n] else
                 v.reshape(-1) if len(paper.shapes[n]) == 1 else v
                 for n, v in _data(paper, 0).items()}
    got = from_latex.namespace()["value_and_grad"](**arguments)
    expected = from_text.namespace()["value_and_grad"](**arguments)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_the_text_output_shows_the_reading():
    code, out, err = run("grad", r"\|As - x\|_F^2 + \gamma \|A\|_F^2", "--wrt", "A",
                         "--shape", "s=n,k")
    assert code == 0, err
    assert out.startswith("read as: norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2\n")
    assert "grad_A = 2 (A s - x) s^T + 2 gamma A" in out


def test_from_latex_is_explicit_or_detected_by_a_backslash():
    code, out, _ = run("grad", "x^T A x", "--wrt", "x", "--from", "latex")
    assert code == 0 and out.startswith("read as: x'*A*x\n")
    code, out, _ = run("grad", "x'*A*x", "--wrt", "x")
    assert code == 0 and "read as" not in out


@pytest.mark.parametrize("command", [["check"], ["hvp"], ["hess"], ["layers"],
                                     ["check", "--hvp"]])
def test_every_command_reads_latex(command):
    code, out, err = run(*command, r"\frac{1}{2} x^\top A x - b^\top x", "--wrt", "x")
    assert code == 0, err
    assert "read as: 1/2*x'*A*x - b'*x" in out


def test_the_api_reads_latex():
    d = derive.gradient(latex=r"\|As - x\|_F^2", wrt="A")
    assert d.text == derive.gradient("norm(A*s - x, 'fro')^2", "A").text
    assert d.formula.latex_input == r"\|As - x\|_F^2"
    assert derive.hvp(latex=r"x^\top A x", wrt="x").formula.source == "x'*A*x"
    assert derive.hessian(latex=r"x^\top A x", wrt="x").hessians
    assert derive.check(latex=r"\sum \log(1 + e^{-y \odot (X w)})", wrt="w").passed
    d = derive.gradient(latex=r"\sum \log \sigma(X w)", wrt="w", assume={"sigma": "sigmoid"})
    assert d.formula.source == "sum(log(sigmoid(X*w)))"
    with pytest.raises(TypeError):
        derive.gradient("x'*x", "x", latex="x^T x")


# ---------------------------------------------------------------- refused, with the readings

REFUSED = [
    (r"\|W\|^2 + \sigma(W x)", 11, r"--assume sigma=sigmoid"),
    (r"\log |X| + \|x\|^2", 6, r"\det(X)"),
    (r"\|X\|^2", 1, r"\|X\|_F for the Frobenius norm"),
    (r"\sum_i x_i", 5, "index notation"),
    (r"\sum_{i=1}^n \log(1 + x)", 5, "index notation"),
    (r"\|X_{ij}\|_F^2", 4, "index notation"),
    (r"\sum y \odot X w", 8, r"y \odot (X w)"),
    (r"\operatorname{tr} X^\top A X", 26, r"\operatorname{tr}(A B)"),
    (r"\phi(x) + x", 1, "--assume phi=sigmoid"),
    (r"\|x\|_\infty", 6, "not in the formula language"),
    (r"x \otimes y", 3, "Kronecker"),
    (r"\mathcal{L} = \|x\|^2 = x^\top x", 23, "one '=' to a row"),
    (r"a = x^\top x \\ b = x^\top y", 17, "no row is the cost"),
    (r"x^\top x \\ y^\top y", 13, "two rows could be the cost"),
]


@pytest.mark.parametrize("latex, column, reading", REFUSED, ids=[r[0] for r in REFUSED])
def test_ambiguous_notation_is_refused_with_the_readings(latex, column, reading):
    code, out, err = run("grad", latex, "--wrt", "x", "--shape", "x=n", "--shape", "y=n")
    assert code == 2 and out == ""
    assert err.startswith(f"error: line 1, column {column}: ")
    assert reading in err and "Traceback" not in err
    caret = err.splitlines()[-1]
    assert caret.index("^") - 2 == column - 1


def test_a_shape_error_points_into_the_latex():
    with pytest.raises(DeriveError) as caught:
        derive.gradient(latex=r"\|A s - x\|_F^2 + \operatorname{tr}(A)", wrt="A",
                        shapes={"A": ("m", "n")})
    assert caught.value.source.startswith(r"\|A s")
    assert caught.value.source[caught.value.offset:].startswith(r"\operatorname{tr}")
    assert "read as:" in caught.value.message


def test_sigma_not_applied_is_a_name():
    assert read_latex(r"\sigma^2 \|w\|^2").text == "sigma^2*norm(w, 2)^2"


# ---------------------------------------------------------------- hostile input

HOSTILE = {
    "deep \\left(": r"\left(" * 3000 + "x" + r"\right)" * 3000,
    "deep braces": "{" * 3000 + "x" + "}" * 3000,
    "deep fractions": r"\frac{" * 3000 + "1}{2}" * 3000,
    "deep superscripts": "x^{" * 30000 + "2" + "}" * 30000,
    "deep roots": r"\sqrt{" * 3000 + "x" + "}" * 3000,
    "deep norms": r"\|" * 3000 + "x" + r"\|" * 3000,
    "deep signs": "-" * 5000 + "x^T x",
    "deep sums": r"\sum" * 5000 + " x",
    "huge": "x^T x + " * 60000,
    "unknown control sequence": r"\foo x",
    "unbalanced {": r"{x^T x",
    "unbalanced }": r"x^T x}",
    "a fraction short of an argument": r"\frac{1}",
    "a root without argument": r"\sqrt",
    "a lone backslash": "x^T x \\",
    "unclosed \\left(": r"\left( x^T x",
    "unclosed norm": r"\|x",
    "unclosed ||": "||x",
    "a caret at the end": "x^",
    "empty": "",
    "only dollars": "$$",
    "a NUL": "x\0",
    "a Greek letter in Unicode": "λ x",
    "only alignment": "&&&",
    "an unclosed environment": r"\begin{align",
    "a number too long": "1" * 5000,
    "an empty superscript": "x^{}",
    "an empty font": r"\mathbf{}",
    "a long product beside a Hadamard product": "(" + "x " * 20000 + r") \odot X w",
}


@pytest.mark.parametrize("latex", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_latex_is_one_clear_message(latex):
    code, out, err = run("grad", latex, "--wrt", "x", "--from", "latex")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Traceback" not in err
    assert "please report" not in err and "too deeply nested for derive" not in err
    assert len(err) < 2000
    if err.startswith("error: line "):
        assert err.rstrip("\n").splitlines()[-1].strip() == "^"


def test_long_chains_are_read_without_recursion():
    """A chain as long as the length limit allows makes a tree as deep: read with loops."""
    reading = read_latex("x^T x + " * 20000 + "1")
    assert reading.text.count("x'*x") == 20000
    assert read_latex(r"\sum x" + "'" * 50000).text.endswith("'" * 50000 + ")")
