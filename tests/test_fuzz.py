"""Fuzzing: any text either derives or is refused with a DeriveError, quickly.

Two kinds of input, drawn by hypothesis:

* random strings over the formula alphabet, whole words of the language
  (function names, ``'fro'``, ``.^`` ...) and junk characters (quotes,
  brackets, control characters, non-ASCII letters, lone surrogates);
* near-valid formulas: one of ``VALID`` (covering the whole language) with one
  to three tokens deleted, duplicated, swapped with the next one, replaced by a
  random token, or with a random token inserted.

Every input must derive (``derive.gradient``, then its text, LaTeX, layer
tables and a NumPy snippet that compiles) or raise ``derive.DeriveError``
whose message is clear: printable, not huge, and when it has a place, a line
and column inside the formula and ``line L, column C:`` in front.  Any other
exception, or an input that hangs, is a failure.  Random strings also go
through the command line, which must answer 0 or 2 with one clear paragraph.
Each input runs in a forked worker (``Worker``), killed and replaced when an
input outlives its bound, so that even a hang inside C (an exact power of a
huge integer) is reported, shrunk, and does not stop the run.  The bound is
``WATCHDOG`` seconds by default (a hang, not a slow input on a loaded machine)
and ``SECONDS`` with ``pytest --slow``, which also asks for speed.

The variable is a free name of the formula when there is one (the names
that are neither functions nor defined), sometimes two of them; else ``x``,
which is then refused as "no variable" (a DeriveError, allowed).

Examples: ``DEFAULT_EXAMPLES`` in all (half each kind) by default,
``SLOW_EXAMPLES`` with ``pytest --slow``, or ``DERIVE_FUZZ_EXAMPLES=N``.
The run is derandomized (the same examples every time) unless
``DERIVE_FUZZ_SEED=S`` picks another seed.  ``DERIVE_FUZZ_SECONDS`` overrides
the per-input bound.  What the slow run finds today is in
``KNOWN_SLOW_FAILURES`` (expected there, strictly), and every bug fuzzing
found is a plain case of ``test_found_by_fuzzing``, marked xfail until fixed.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import traceback

import pytest
from conftest import limit_memory, run
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

import derive

DEFAULT_EXAMPLES = 1_000
SLOW_EXAMPLES = 20_000
SECONDS = float(os.environ.get("DERIVE_FUZZ_SECONDS", "2"))
WATCHDOG = 60.0           # the default run's bound: an input still running then hangs

FUNCTIONS = ["exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "softplus", "relu",
             "sign", "square", "sum", "mean", "norm", "norm1", "norm2", "tr", "trace", "det",
             "logdet", "inv", "diag", "eye", "ones", "softmax", "logsumexp"]

# (formula, shapes): together they use every operator, function and form of the language.
VALID = [
    ("sum(A*x)", None),
    ("sum(A@B)", None),
    ("x'*A*x", None),
    ("a'*X*b", None),
    ("norm(A.T*y - b)^2", None),
    ("sum(-x) - 3*sum(x) + 0.5*sum(x .* x) + 1e-3", None),
    ("sum(A .* B) + sum(A ./ B)", None),
    ("sum(x) / m + sum(x.^3) / 2", None),
    ("alpha^2 + alpha^-1 + sum(x)^2", None),
    ("sum(X.^p)", None),
    ("sum((A*s - x).^2)", {"s": ("n", "k"), "x": ("m", "k")}),
    ("sum(W*X + b)", {"X": ("n", "k")}),
    ("sum(X + r)", {"r": (1, "k"), "X": ("m", "k")}),
    ("R = A*s - x; norm(R, 'fro')^2 + gamma*norm(A, 'fro')^2", {"s": ("n", "k"), "x": ("m", "k")}),
    ("H = tanh(W*X); sum(sum((W'*H - X).^2))", {"X": ("n", "k")}),
    ("# ICA\nR = W'*W*x - x;  # the residual\nnorm(R)^2 / 2", None),
    ("sum(sqrt(V*(s.^2) + eps))", {"s": ("n", "k")}),
    ("sum(exp(A*x)) + sum(log(x .* x + 1))", None),
    ("sum(abs(x)) + norm1(y) + lambda*norm(x, 1)", None),
    ("sum(sigmoid(W*x + b)) + sum(tanh(W*x))", None),
    ("sum(softplus(-y .* (X*w)))", None),
    ("sum(log(sigmoid(y .* (X*w))))", None),
    ("sum(square(A*x - b))", None),
    ("sum(sin(x) .* cos(y))", None),
    ("sum(relu(W*x)) + sum(sign(x) .* y)", None),
    ("sum(sum(X, 1)) + sum(sum(X, 2).^2)", None),
    ("mean(X) + sum(mean(X, 1).^2) + sum(mean(X, 2).^2)", None),
    ("norm(x) + norm(X) + norm(x, 2) + norm2(y)^2 + norm(y, 1)", None),
    ("tr(A*X*B) + trace(X'*X)", None),
    ("logdet(X) + det(X) + tr(inv(X)*A)", None),
    ("sum(X^-1 * y) + sum(X^2 * y) + sum(X^3)", None),
    ("sum(diag(x) * A * y) + sum(diag(X).^2)", None),
    ("sum((eye(n) + X) * y) + sum(ones(n, 3) .* Y)", {"X": ("n", "n")}),
    ("sum(sum(Y .* log(softmax(Theta*X))))", None),
    ("logsumexp(X) + sum(logsumexp(X, 1))", None),
    (".5*sum(x) + 1.5E+3*beta + 2.*alpha", {"beta": ()}),
    ("T1 = A'; T2 = T1*B;\nsum(sum(T2 .* C))", None),
]

# Tokens of VALID, for the mutations: strings, names, numbers, two-character
# operators, comments (with their newline), runs of whitespace, any other character.
_TOKEN = re.compile(r"""'fro'|[A-Za-z][A-Za-z0-9_]*|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?
                        |\.[*/^T]|\#[^\n]*\n?|\s+|.""", re.VERBOSE | re.DOTALL)

RANDOM_TOKENS = (
    ["+", "-", "*", "/", "@", ".*", "./", "^", ".^", "'", ".T", "(", ")", ",", ";", "=", "#",
     "\n", " "]
    + FUNCTIONS
    + ["x", "y", "A", "X", "W", "R", "alpha", "lambda", "eps", "n", "k", "T", "e", "pi", "fro",
       "x1", "A_2"]
    + ["0", "1", "2", "3", "-1", "0.5", ".5", "1e-3", "2.", "1e400", "999999999", "00", "1e",
       "9" * 40]
    + ["'fro'", "'nuc'", "''", "'x", "\"fro\""]
    + ["[", "]", "{", "}", "\\", "`", "$", "%", "!", "~", "&", "|", ":", "?", "_", "..", "**",
       "==", "\x00", "\x07", "\t", "\r", "\u00e9", "\u03b1", "\u202e", "\ufeff", "\ud800",
       "__import__", "lambda:", "R =", "R = x;", "sum(", "norm(", ")'", "'.T"]
)

CHARACTERS = list("AXWxysbTep0129.+-*/^@,;=()' \n\t#_") + [
    '"', "[", "]", "{", "}", "\\", "`", "$", "%", "!", "~", "&", "|", ":", "?", "<", ">",
    "\x00", "\x07", "\x1b", "\x7f", "\x85", "\u00e9", "\u03b1", "\u00d7", "\u200b", "\u202e",
    "\u2028", "\ufeff", "\uff58", "\ud800", "\U0001d465"]
WORDS = FUNCTIONS + ["'fro'", "alpha", "eps", "lambda", "1e-3", "999999999", ".T", ".*", "./",
                     ".^", "R = ", "; ", "x'", "A*x", "(x)"]


def _tokens(formula: str) -> list[str]:
    tokens = _TOKEN.findall(formula)
    assert "".join(tokens) == formula
    return tokens


@st.composite
def near_valid(draw):
    """A formula of VALID with one to three token mutations, and its shapes."""
    formula, shapes = draw(st.sampled_from(VALID))
    tokens = _tokens(formula)
    random_token = st.sampled_from(RANDOM_TOKENS)
    for _ in range(draw(st.integers(1, 3))):
        places = [i for i, t in enumerate(tokens) if not t.isspace()]
        if not places:
            tokens.append(draw(random_token))
            continue
        i = draw(st.sampled_from(places))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "insert"]))
        if kind == "delete":
            del tokens[i]
        elif kind == "duplicate":
            tokens.insert(i, tokens[i])
        elif kind == "swap":
            later = [j for j in places if j > i]
            if later:
                j = later[0]
                tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind == "replace":
            tokens[i] = draw(random_token)
        else:
            tokens.insert(i, draw(random_token))
    return "".join(tokens), shapes


random_strings = st.one_of(
    st.lists(st.one_of(st.sampled_from(CHARACTERS), st.sampled_from(WORDS)), max_size=40)
    .map("".join),
    st.text(max_size=30),
)


_NAME = re.compile(r"(?<![A-Za-z0-9_.])[A-Za-z][A-Za-z0-9_]*")


def free_names(formula: str) -> list[str]:
    """Names that look like variables: not called, not functions, not defined, not in comments."""
    code = re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), formula)
    code = re.sub(r"'[A-Za-z]*'", lambda m: " " * len(m.group()), code)
    code = re.sub(r"\b(?:eye|ones)\s*\([^()]*\)", lambda m: " " * len(m.group()), code)  # dims
    defined = set(re.findall(r"(?:^|;)\s*([A-Za-z][A-Za-z0-9_]*)\s*=(?!=)", code))
    names = []
    for m in _NAME.finditer(code):
        name = m.group()
        if (name in FUNCTIONS or name in defined or name in names
                or code[m.end():].lstrip().startswith("(")):
            continue
        names.append(name)
    return names


# --------------------------------------------------------------------------
# The property, run in a forked worker that is killed when an input hangs
# --------------------------------------------------------------------------

class Overtime(Exception):
    """An input that outlived the worker's bound."""


_crash_classes: dict[str, type] = {}


def _crash(kind: str) -> type:
    """One exception class per kind of crash, so that hypothesis reports each bug apart."""
    if kind not in _crash_classes:
        _crash_classes[kind] = type(kind, (Exception,), {})
    return _crash_classes[kind]




def _serve(conn) -> None:
    """The worker: run ``globals()[name](*args)`` for each request, answer with the outcome."""
    limit_memory()
    while True:
        try:
            name, args = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", globals()[name](*args)))
        except BaseException as error:  # noqa: BLE001 - everything goes back to the test
            frames = traceback.extract_tb(error.__traceback__)
            where = next((f"{os.path.basename(f.filename)}:{f.lineno}" for f in reversed(frames)
                          if f"{os.sep}derive{os.sep}" in f.filename), "tests")
            conn.send(("raised", f"{type(error).__name__} in {where}",
                       f"{type(error).__name__}: {str(error)[:2000]}",
                       "".join(traceback.format_exception(error))[-4000:]))


class Worker:
    """A forked copy of this process that runs one input at a time, within ``seconds``.

    An input that hangs, even inside C (an exact power of a huge integer), is
    killed with its worker, and reported as Overtime; the next input gets a
    fresh worker.  Without fork (Windows) the input runs in-process, unbounded.
    """

    def __init__(self, seconds: float = SECONDS) -> None:
        self.seconds = seconds
        self.child = None
        self.conn = None

    def call(self, name: str, *args):
        if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover
            return globals()[name](*args)
        if self.child is None:
            context = multiprocessing.get_context("fork")
            self.conn, theirs = context.Pipe()
            self.child = context.Process(target=_serve, args=(theirs,), daemon=True)
            self.child.start()
            theirs.close()
        self.conn.send((name, args))
        if not self.conn.poll(self.seconds):
            self.stop()
            raise Overtime(f"{name}{args!r}: still running after {self.seconds} s")
        try:
            answer = self.conn.recv()
        except EOFError:                    # the worker died (a signal, the memory limit)
            code = self.child.exitcode if self.child else None
            self.stop()
            raise _crash("WorkerDied")(f"{name}{args!r}: the worker died (exit {code})") from None
        if answer[0] == "ok":
            return answer[1]
        _, kind, message, trace = answer
        raise _crash(kind)(f"{message}\n--- in the worker ---\n{trace}")

    def stop(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child.join()
            self.conn.close()
        self.child = self.conn = None


@pytest.fixture(scope="module")
def worker(request):
    slow = request.config.getoption("--slow")
    worker = Worker(SECONDS if slow else max(SECONDS, WATCHDOG))
    yield worker
    worker.stop()


# sympy's infinities and not-a-number, which mean a constant was folded to nonsense
_SYMPY_SPECIALS = re.compile(r"\b(zoo|oo|nan|NaN|ComplexInfinity)\b")


def check_refusal(error: derive.DeriveError, formula: str) -> None:
    """A DeriveError is clear: a message, a place inside the formula, printable, short."""
    assert isinstance(error.message, str) and error.message.strip(), repr(error.message)
    text = str(error)
    assert len(text) < 2000, f"a {len(text)}-character message"
    for line in text.split("\n"):
        assert line.isprintable(), f"unprintable message line {line!r}"
    if error.line is not None:
        lines = formula.split("\n")
        assert 1 <= error.line <= len(lines), (error.line, len(lines))
        assert 1 <= error.column <= len(lines[error.line - 1]) + 1, (
            error.column, lines[error.line - 1])
        assert text.startswith(f"line {error.line}, column {error.column}: "), text


def derive_or_refuse(formula: str, wrt, shapes=None) -> str:
    """'derived' or 'refused'; anything else (an exception, a hang) fails."""
    try:
        derivation = derive.gradient(formula, wrt, shapes)
        text = derivation.text
        assert isinstance(derivation.latex, str)
        assert derivation.layers is not None
        compile(derivation.numpy, "<derive snippet>", "exec")
    except derive.DeriveError as error:
        check_refusal(error, formula)
        return "refused"
    leaked = [w for w in _SYMPY_SPECIALS.findall(text) if not re.search(rf"\b{w}\b", formula)]
    assert not leaked, f"sympy's {leaked} in the gradient: {text[:300]}"
    return "derived"


def parse_errors_have_a_place(formula: str) -> None:
    """A formula the parser refuses is refused at a line and column."""
    from derive.frontend.parse import parse
    try:
        parse(formula)
    except derive.DeriveError as error:
        assert error.line is not None and error.column is not None, str(error)


def cli_derives_or_refuses(formula: str, wrt: str) -> None:
    code, out, err = run("grad", "--wrt", wrt, "--", formula)
    assert code in (0, 2), (code, out, err)
    if code == 2:
        assert out == "" and err.startswith("error: "), err
        assert "Traceback" not in err and "please report" not in err, err
        assert "too large or too deeply nested" not in err, err
        assert "\n\n" not in err.rstrip("\n"), err


def pick_wrt(data, formula: str):
    names = free_names(formula)
    if not names:
        return "x"
    first = data.draw(st.sampled_from(names), label="wrt")
    if len(names) > 1 and data.draw(st.booleans(), label="two variables"):
        second = data.draw(st.sampled_from([n for n in names if n != first]), label="wrt 2")
        return [first, second]
    return first


# --------------------------------------------------------------------------
# Settings: the number of examples comes from --slow or the environment
# --------------------------------------------------------------------------

def examples(request) -> int:
    """The examples of one of the two tests: half the run's total."""
    if os.environ.get("DERIVE_FUZZ_EXAMPLES"):
        total = int(os.environ["DERIVE_FUZZ_EXAMPLES"])
    elif request.config.getoption("--slow"):
        total = SLOW_EXAMPLES
    else:
        total = DEFAULT_EXAMPLES
    return max(1, total // 2)


def fuzz_settings(request):
    chosen = os.environ.get("DERIVE_FUZZ_SEED")
    configured = settings(
        max_examples=examples(request),
        deadline=None,                      # the alarm bounds each input instead
        derandomize=chosen is None,
        database=None,                      # the same examples every run, nothing replayed
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                               HealthCheck.data_too_large],
        print_blob=True,
    )

    def apply(test):
        test = configured(test)
        return seed(int(chosen))(test) if chosen is not None else test
    return apply


# --------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------

def test_the_valid_formulas_derive():
    """The base of the mutations is valid: each derives with respect to each free name."""
    for formula, shapes in VALID:
        names = free_names(formula)
        assert names, formula
        for name in names:
            assert derive_or_refuse(formula, name, shapes) == "derived", (formula, name)
        assert derive_or_refuse(formula, names, shapes) == "derived", (formula, names)


def test_free_names():
    assert free_names("R = A*s - x; norm(R, 'fro')^2 + gamma*norm(A, 'fro')^2") == [
        "A", "s", "x", "gamma"]
    assert free_names("# ICA x\nsum(W.T*y)") == ["W", "y"]


# What the derandomized slow run (pytest --slow) finds today; the default run passes.
KNOWN_SLOW_FAILURES: dict[str, str] = {}


def expect_known_failures(request) -> None:
    """In the slow, derandomized run, the failures above are expected (strictly)."""
    name = request.node.name
    if (name in KNOWN_SLOW_FAILURES and examples(request) >= SLOW_EXAMPLES // 2
            and not os.environ.get("DERIVE_FUZZ_SEED")):
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_SLOW_FAILURES[name]))


def test_random_strings_derive_or_refuse(request, worker):
    expect_known_failures(request)

    @fuzz_settings(request)
    @given(formula=random_strings, data=st.data())
    def check(formula, data):
        wrt = pick_wrt(data, formula)
        event(worker.call("derive_or_refuse", formula, wrt))
        worker.call("parse_errors_have_a_place", formula)
        if "\x00" not in formula:          # a command line cannot hold a NUL
            worker.call("cli_derives_or_refuses", formula, wrt if isinstance(wrt, str) else wrt[0])

    check()


def test_near_valid_formulas_derive_or_refuse(request, worker):
    expect_known_failures(request)

    @fuzz_settings(request)
    @given(case=near_valid(), data=st.data())
    def check(case, data):
        formula, shapes = case
        event(worker.call("derive_or_refuse", formula, pick_wrt(data, formula), shapes))
        worker.call("parse_errors_have_a_place", formula)

    check()


# --------------------------------------------------------------------------
# What fuzzing found, as plain cases (remove a mark once its bug is fixed)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("task, args", [
    pytest.param("derive_or_refuse", ("sum(X^-1 * y) + sum(X^22 * y) + sum(X^3)", "X", None),
                 id="matrix-power-numpy"),
    pytest.param("cli_derives_or_refuses", ("@\ud800", "x"),
                 id="file-name-with-a-surrogate"),
    pytest.param("cli_derives_or_refuses", ("@x\x00", "x"),
                 id="file-name-with-a-nul"),
    pytest.param("derive_or_refuse", ("sum(x) / 0", "x", None),
                 id="division-by-zero"),
    pytest.param("derive_or_refuse", ("9^9^9^9^9*sum(x)", "x", None),
                 id="huge-constant"),
])
def test_found_by_fuzzing(worker, task, args):
    worker.call(task, *args)
