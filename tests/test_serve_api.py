"""`derive serve`'s JSON API, against a real server on a loopback port.

The API answers what `derive ... --format json` prints; bad input of every kind gets a 4xx
with a message (never a traceback); requests that do not name the server, come from
another site or are too large are refused; a formula that runs away is stopped after the
time limit while the other workers go on answering.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.request

import pytest

from derive.serve.request import MAX_NAMES
from derive.serve.server import MAX_BODY
from support.serve_client import SPARSE_CODING, host, post, runaway, running_server, send
from conftest import run as run_cli

SHAPES = {"s": "n,k", "x": "m,k"}


@pytest.fixture(scope="module")
def server():
    with running_server(workers=2, time_limit=5) as server:
        yield server


def cli_json(command: str, formula: str, wrt: list[str], shapes: dict, assume: dict = {}):
    args = [command, formula, "--format", "json"]
    args += [a for name in wrt for a in ("--wrt", name)]
    args += [a for name, dims in shapes.items() for a in ("--shape", f"{name}={dims}")]
    args += [a for name, prop in assume.items() for a in ("--assume", f"{name}={prop}")]
    code, out, _ = run_cli(*args)
    assert code == 0
    return json.loads(out)


@pytest.mark.parametrize("command, formula, wrt, shapes, assume", [
    ("grad", SPARSE_CODING, ["A"], SHAPES, {}),
    ("grad", SPARSE_CODING, ["A", "s"], SHAPES, {}),
    ("grad", "R = W*X + b; sum(sum(softplus(R)))", ["W", "b"], {}, {}),
    ("grad", "(x - mu)'*inv(Sigma)*(x - mu) + logdet(Sigma)", ["Sigma"], {"mu": "n"},
     {"Sigma": "spd"}),
    ("hvp", "sum(softplus(-y .* (X*w)))", ["w"], {}, {}),
    ("hess", "sum(softplus(-y .* (X*w)))", ["w"], {}, {}),
])
def test_the_api_answers_what_the_cli_prints(server, command, formula, wrt, shapes, assume):
    status, answer = post(server, {"formula": formula, "wrt": wrt, "shapes": shapes,
                                   "assume": assume, "what": command})
    assert status == 200
    assert answer == cli_json(command, formula, wrt, shapes, assume)


def test_shapes_and_assumptions_also_as_command_line_strings(server):
    as_object = post(server, {"formula": SPARSE_CODING, "wrt": "A",
                              "shapes": {"s": ["n", "k"], "x": "m,k"}})
    as_strings = post(server, {"formula": SPARSE_CODING, "wrt": ["A"],
                               "shapes": ["s=n,k", "x=m,k"]})
    assert as_object == as_strings and as_object[0] == 200


def test_the_page_gets_the_kinds_the_steps_and_the_check(server):
    status, answer = post(server, {"formula": SPARSE_CODING, "wrt": "A", "shapes": SHAPES,
                                   "steps": True, "check": True})
    assert status == 200
    assert "gamma: scalar" in answer["kinds_text"]
    assert "Backward pass" in answer["steps_text"]
    assert answer["check"]["passed"] is True
    assert answer["check"]["text"].startswith("dimensions:")


def test_a_bad_formula_is_a_422_with_the_caret(server):
    status, answer = post(server, {"formula": "norm(A*s - , 'fro')^2", "wrt": "A"})
    assert status == 422
    assert (answer["line"], answer["column"]) == (1, 12)
    assert answer["error"].splitlines()[-1] == "  " + " " * 11 + "^"
    assert "Traceback" not in answer["error"]


@pytest.mark.parametrize("body, says", [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b"[" * 100_00 + b"]" * 100_00, "not JSON"),
    (json.dumps({"formula": "x'*x", "wrt": "x", "eval": "1"}).encode(), "unknown field 'eval'"),
    (json.dumps({"wrt": "x"}).encode(), '"formula"'),
    (json.dumps({"formula": "x'*x"}).encode(), '"wrt"'),
    (json.dumps({"formula": 3, "wrt": "x"}).encode(), '"formula"'),
    (json.dumps({"formula": "x'*x", "wrt": 3}).encode(), '"wrt"'),
    (json.dumps({"formula": "x'*x", "wrt": "x", "what": "integral"}).encode(), '"what"'),
    (json.dumps({"formula": "x'*x", "wrt": "x", "shapes": {"x": {"n": 1}}}).encode(),
     '"shapes"'),
    (json.dumps({"formula": "x'*x", "wrt": "x", "shapes": 7}).encode(), '"shapes"'),
    (json.dumps({"formula": "x'*x", "wrt": "x", "assume": {"x": True}}).encode(), '"assume"'),
    (json.dumps({"formula": "x'*x", "wrt": "x", "check": "yes"}).encode(), '"check"'),
    (json.dumps({"formula": "x'*x", "wrt": ["x"] * (MAX_NAMES + 1)}).encode(), "too long"),
])
def test_a_bad_request_is_a_400_with_a_message(server, body, says):
    status, answer = post(server, body)
    assert status == 400
    assert says in answer["error"]


@pytest.mark.parametrize("formula, wrt, says", [
    ("(" * 5000 + "x" + ")" * 5000, "x", "nested too deeply"),
    ("exp(" * 3000 + "X" + ")" * 3000, "X", "nested too deeply"),
    ("-" * 60_000 + "x", "x", "nested too deeply"),
    ("+".join(["X"] * 12_000), "X", "must be a scalar"),
    ("x\x00y", "x", "U+0000"),
    ("\ud800", "x", "U+D800"),
    ("__import__('os').system('true')", "os", "names must start with a letter"),
    ("sum(x)", "z", "no variable 'z'"),
])
def test_a_hostile_formula_is_a_422_with_a_message(server, formula, wrt, says):
    status, answer = post(server, {"formula": formula, "wrt": wrt})
    assert status == 422
    assert says in answer["error"] and "Traceback" not in answer["error"]


def test_a_latex_formula_is_read_as_the_command_line_reads_it(server):
    latex = r"\|A s - x\|_F^2 + \gamma \|A\|_F^2"
    status, answer = post(server, {"formula": latex, "wrt": ["A"], "shapes": SHAPES})
    assert status == 200
    assert answer == cli_json("grad", latex, ["A"], SHAPES)


def test_a_jacobian_is_what_derive_jac_prints(server):
    status, answer = post(server, {"formula": "sigmoid(W*x + b)", "wrt": "x", "what": "jac"})
    assert status == 200
    assert answer == cli_json("jac", "sigmoid(W*x + b)", ["x"], {})


# ---------------------------------------------------------------- what a server must refuse


def test_a_request_naming_another_host_is_refused(server):
    """DNS rebinding: evil.example resolves to 127.0.0.1, but the browser still says its name."""
    status, answer = post(server, {"formula": "x'*x", "wrt": "x"},
                          {"Host": f"evil.example:{server.server_address[1]}"})
    assert status == 403 and "own address" in answer["error"]
    status, _, _ = send(server, "GET", "/", headers={"Host": "evil.example"})
    assert status == 403


def test_a_post_from_another_site_is_refused(server):
    status, answer = post(server, {"formula": "x'*x", "wrt": "x"},
                          {"Origin": "http://evil.example"})
    assert status == 403 and "other sites" in answer["error"]
    status, _ = post(server, {"formula": "x'*x", "wrt": "x"},
                     {"Origin": f"http://{host(server)}"})
    assert status == 200


def test_only_json_posts_of_a_bounded_size(server):
    form = send(server, "POST", "/api/derive", b"formula=x", {"Content-Type": "text/plain"})
    assert form[0] == 415
    body = json.dumps({"formula": "x'*x + " * (MAX_BODY // 7), "wrt": "x"}).encode()
    status, answer = post(server, body)
    assert status == 413 and "larger than" in answer["error"]


def test_a_body_shorter_than_it_says_is_refused():
    with running_server(request_timeout=1) as server:
        status, _, answer = send(server, "POST", "/api/derive", b'{"formula": "x',
                                 {"Content-Type": "application/json",
                                  "Content-Length": "40"})
    assert status == 400 and b"shorter than its Content-Length" in answer


def test_the_page_and_its_files_only(server):
    status, headers, page = send(server, "GET", "/?f=x%27*x&wrt=x")
    assert status == 200 and b"katex.min.js" in page
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert send(server, "GET", "/katex/katex.min.js")[0] == 200
    assert send(server, "GET", "/katex/LICENSE")[0] == 200
    for path in ("/../server.py", "/static/app.js", "/%2e%2e/request.py", "/api/derive"):
        assert send(server, "GET", path)[0] == 404
    assert send(server, "DELETE", "/api/derive")[0] == 405
    status, _, recipes = send(server, "GET", "/api/recipes")
    assert status == 200 and "sparse_coding" in {r["name"] for r in json.loads(recipes)}


def test_the_command_serves_the_page():
    """derive serve as a user starts it: it says its address, and the page is there."""
    command = [sys.executable, "-m", "derive.cli", "serve", "--port", "0", "--no-browser"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", first).group()
        with urllib.request.urlopen(url, timeout=60) as response:
            assert b"katex.min.js" in response.read()
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_katex_is_vendored_whole_with_its_licence(server):
    """Every woff2 font the stylesheet names is served; the licence and the version are kept."""
    status, _, css = send(server, "GET", "/katex/katex.min.css")
    fonts = set(re.findall(r"url\((fonts/[\w-]+\.woff2)\)", css.decode()))
    assert status == 200 and len(fonts) >= 20
    assert all(send(server, "GET", f"/katex/{font}")[0] == 200 for font in fonts)
    assert b"MIT License" in send(server, "GET", "/katex/LICENSE")[2]
    assert b"katex@0.19.1" in send(server, "GET", "/katex/SOURCE.txt")[2]


def test_a_port_in_use_is_a_message():
    with running_server() as server:
        code, _, err = run_cli("serve", "--port", str(server.server_address[1]),
                               "--no-browser")
    assert code == 2 and err.startswith("error: cannot listen on 127.0.0.1:")


def test_it_listens_on_loopback_unless_told():
    from derive.cli import serve
    assert {p.name: p.default for p in serve.params}["host"] == "127.0.0.1"
    with running_server() as server:
        assert server.server_address[0] == "127.0.0.1"


# ---------------------------------------------------------------- a formula that runs away


def test_a_runaway_formula_is_stopped_while_others_are_answered():
    with running_server(workers=2, time_limit=3) as server:
        stopped = {}
        thread = threading.Thread(target=lambda: stopped.update(
            answer=post(server, {"formula": runaway(), "wrt": "X"})))
        thread.start()
        for _ in range(3):   # the other worker answers meanwhile
            status, answer = post(server, {"formula": SPARSE_CODING, "wrt": "A",
                                           "shapes": SHAPES})
            assert status == 200
        thread.join()
        status, answer = stopped["answer"]
        assert status == 422 and "took longer than 3 s and was stopped" in answer["error"]
        # the stopped worker was replaced: both answer again
        results = []
        threads = [threading.Thread(target=lambda f=f: results.append(post(
            server, {"formula": f, "wrt": "w"}))) for f in ("sum(X*w)", "w'*w")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [status for status, _ in results] == [200, 200]
