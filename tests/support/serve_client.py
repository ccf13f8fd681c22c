"""A `derive serve` server on an ephemeral loopback port, and a client that sets every header."""
from __future__ import annotations

import http.client
import json
import threading
from contextlib import contextmanager
from typing import Iterator

from derive.serve.server import Server

SPARSE_CODING = "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2"


def runaway(depth: int = 14) -> str:
    """Definitions that each use the last twice: the result doubles with every one, so the
    derivation runs for hours (a real formula, not a test hook)."""
    lines = ["Y0 = X;"] + [f"Y{i} = sigmoid(Y{i - 1}*Y{i - 1} + Y{i - 1}');"
                           for i in range(1, depth + 1)]
    return " ".join(lines) + f" sum(Y{depth})"


@contextmanager
def running_server(**options) -> Iterator[Server]:
    server = Server("127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def host(server: Server) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


def send(server: Server, method: str, path: str, body: bytes | None = None,
         headers: dict | None = None, timeout: float = 120) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one request; Host is the server's unless ``headers`` says."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1],
                                            timeout=timeout)
    try:
        connection.request(method, path, body, {"Host": host(server), **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post(server: Server, body, headers: dict | None = None) -> tuple[int, dict]:
    """POST /api/derive with a JSON body (bytes are sent as they are): (status, its JSON)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, answer = send(server, "POST", "/api/derive", raw,
                             {"Content-Type": "application/json", **(headers or {})})
    return status, json.loads(answer)
