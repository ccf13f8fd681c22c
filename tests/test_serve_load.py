"""`derive serve` under load on loopback: 200 requests from 8 clients at once, good, bad
and runaway formulas mixed. Every good one is answered right, none is lost, and the server
still answers afterwards. (Counts only: no assertion on time.)"""
from __future__ import annotations

import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import derive
from derive.render import render
from support.serve_client import SPARSE_CODING, post, runaway, running_server

REQUESTS = 200
CLIENTS = 8
RUNAWAYS = 4

GOOD = [
    (SPARSE_CODING, ["A"], {"s": "n,k", "x": "m,k"}),
    (SPARSE_CODING, ["s"], {"s": "n,k", "x": "m,k"}),
    (SPARSE_CODING, ["A", "s"], {"s": "n,k", "x": "m,k"}),
    ("sum(log(sigmoid(X*w)))", ["w"], {}),
    ("norm(W'*W*x - x)^2", ["W"], {}),
    ("sum(sqrt(V*(s.^2) + eps))", ["s"], {"s": "n,k"}),
    ("H = sigmoid(W1*X + b1); sum(sum((W2*H + b2 - Y).^2))/2", ["W1", "b1", "W2"], {}),
    ("-sum(sum(Y .* log(softmax(Theta*X))))", ["Theta"], {"Y": "k,m", "X": "n,m"}),
    ("logdet(Sigma) + tr(inv(Sigma)*S)", ["Sigma"], {}),
    ("x'*A*x + b'*x", ["x"], {}),
]
BAD = [
    ({"formula": "norm(A*s - , 'fro')^2", "wrt": "A"}, 422),
    ({"formula": "sum(x", "wrt": "x"}, 422),
    ({"formula": "(" * 3000 + "x" + ")" * 3000, "wrt": "x"}, 422),
    ({"formula": "A*B", "wrt": "A"}, 422),
    ({"formula": "x'*x", "wrt": "x", "extra": 1}, 400),
    (b"{broken", 400),
]


def expected(formula: str, wrt: list[str], shapes: dict) -> dict:
    """The gradients derive gives in-process, printed as --format json prints them."""
    d = derive.gradient(formula, wrt, [f"{n}={dims}" for n, dims in shapes.items()])
    return json.loads(render(d, "json"))["gradients"]


def test_two_hundred_requests_from_eight_clients():
    rng = random.Random(0)
    jobs = [("runaway", None)] * RUNAWAYS
    jobs += [("bad", rng.choice(BAD)) for _ in range(60)]
    jobs += [("good", rng.choice(GOOD)) for _ in range(REQUESTS - len(jobs))]
    rng.shuffle(jobs)
    right = {formula + repr(wrt): expected(formula, wrt, shapes)
             for formula, wrt, shapes in GOOD}

    def ask(job):
        kind, what = job
        if kind == "runaway":
            body = {"formula": runaway(), "wrt": "X"}
        elif kind == "bad":
            body = what[0]
        else:
            formula, wrt, shapes = what
            body = {"formula": formula, "wrt": wrt, "shapes": shapes}
        start = time.perf_counter()
        answer = post(server, body)
        seconds[kind].append(time.perf_counter() - start)
        return kind, what, answer

    seconds: dict[str, list[float]] = {"good": [], "bad": [], "runaway": []}
    with running_server(workers=2, time_limit=2) as server:
        start = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as clients:
            answers = list(clients.map(ask, jobs))
        # Figures for the log (pytest -s), never asserted: the machine may be busy.
        print(f"\n{REQUESTS} requests from {CLIENTS} clients in "
              f"{time.perf_counter() - start:.1f} s; statuses "
              f"{dict(Counter(status for _, _, (status, _) in answers))}; slowest answer "
              + ", ".join(f"{kind} {max(times):.2f} s" for kind, times in seconds.items()))
        assert len(answers) == REQUESTS
        for kind, what, (status, answer) in answers:
            if kind == "good":
                formula, wrt, _ = what
                assert status == 200, answer
                assert answer["gradients"] == right[formula + repr(wrt)]
            elif kind == "bad":
                assert status == what[1] and answer["error"]
            else:
                assert status == 422 and "was stopped" in answer["error"]
        # still answering, with both workers
        assert post(server, {"formula": "w'*w", "wrt": "w"})[0] == 200
        assert post(server, {"formula": "sum(exp(w))", "wrt": "w"})[0] == 200
