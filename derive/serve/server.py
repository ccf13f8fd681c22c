"""The HTTP server of ``derive serve``: the page, ``GET /api/recipes`` and ``POST /api/derive``.

The standard library's ThreadingHTTPServer: the page is one user's, on their own machine,
so a small server with no dependency to install is enough; the derivations themselves run
in worker processes (workers.py), so a slow one never holds up the server.

It is still a server, and a page elsewhere on the web could try to drive it from the
user's browser: it answers only requests whose ``Host`` names it (no DNS rebinding) and
whose ``Origin``, if any, is its own (no cross-site POST), takes only JSON posts of a
bounded size, and says what is wrong with a request as JSON, never as a traceback.
"""
from __future__ import annotations

import json
import mimetypes
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import urlsplit

from ..errors import DeriveError
from .request import BadRequest, Request, parse
from .workers import Stopped, Workers

MAX_BODY = 64 * 1024            # bytes of a POST: a formula is at most a few pages
CACHE_ENTRIES = 256             # answers kept, for a page that asks the same again
CACHE_BODY = 1024 * 1024        # larger answers are not kept
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Everything from this server; KaTeX sets inline styles on what it renders.
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
}


def static_files() -> dict[str, bytes]:
    """The page's files by URL path (/app.js, /katex/fonts/...): only these are served."""
    files: dict[str, bytes] = {}

    def walk(folder, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif not entry.name.startswith("."):
                files[f"{prefix}{entry.name}"] = entry.read_bytes()
    walk(resources.files("derive.serve") / "static", "/")
    return files


def recipes_json() -> bytes:
    from ..recipes import all_recipes
    return json.dumps([{"name": r.name, "description": r.description, "formula": r.formula,
                        "variables": list(r.variables), "assume": r.assume,
                        "shapes": {k: [str(d) for d in v] for k, v in r.shapes.items()}}
                       for r in all_recipes()]).encode()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0, workers: int = 2,
                 time_limit: float = 10.0, verbose: bool = False,
                 request_timeout: float = 30.0) -> None:
        self.workers: Workers | None = None    # none yet if binding fails
        super().__init__((host, port), Handler)
        self.verbose = verbose
        self.request_timeout = request_timeout      # a client that sends nothing is dropped
        port = self.server_address[1]
        names = set(LOOPBACK) | {f"[{host}]" if ":" in host else host}
        self.hosts = {f"{name}:{port}" for name in names}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.files = static_files()
        self.recipes = recipes_json()
        self.workers = Workers(workers, time_limit)
        self._cache: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"

    def derive(self, request: Request) -> tuple[int, bytes]:
        """The answer to a request: a kept one if it was asked before, else a worker's."""
        key = request.key()
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        result = self.workers.run(request)
        if result[0] != 500 and len(result[1]) <= CACHE_BODY:
            with self._cache_lock:
                self._cache[key] = result
                if len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return result

    def server_close(self) -> None:
        super().server_close()
        if self.workers is not None:
            self.workers.close()


class Handler(BaseHTTPRequestHandler):
    server: Server
    server_version = "derive"
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.request_timeout
        super().setup()

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _refuse(self, refusal: BadRequest) -> None:
        self._send(refusal.status, json.dumps(refusal.body()).encode())

    def _checked(self) -> None:
        """Refuse a request that does not name this server or comes from another site."""
        if self.headers.get("Host", "").lower() not in self.server.hosts:
            raise BadRequest(403, "this server answers only requests to its own address "
                                  f"({min(self.server.hosts)})")
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() not in self.server.origins:
            raise BadRequest(403, "requests from other sites are refused")

    def do_GET(self) -> None:
        try:
            self._checked()
        except BadRequest as refusal:
            return self._refuse(refusal)
        path = urlsplit(self.path).path
        if path == "/api/recipes":
            return self._send(200, self.server.recipes)
        if path == "/":
            path = "/index.html"
        body = self.server.files.get(path)
        if body is None:
            return self._refuse(BadRequest(404, f"no such page: {path[:80]}"))
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind == "application/javascript":
            kind += "; charset=utf-8"
        self._send(200, body, kind, cache=path.startswith("/katex/"))

    do_HEAD = do_GET

    def do_POST(self) -> None:
        try:
            self._checked()
            if urlsplit(self.path).path != "/api/derive":
                raise BadRequest(404, "POST /api/derive is the API")
            self._send(*self.server.derive(parse(self._body())))
        except BadRequest as refusal:
            self._refuse(refusal)
        except Stopped as stopped:
            self._refuse(BadRequest(stopped.status, str(stopped)))

    def _body(self) -> bytes:
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise BadRequest(415, "send the request as Content-Type: application/json")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest(411, "the request needs a Content-Length") from None
        if length > MAX_BODY or length < 0:
            self.close_connection = True
            raise BadRequest(413, f"the request is larger than {MAX_BODY:,} bytes")
        try:
            body = self.rfile.read(length)
        except OSError:     # the client stopped sending (the handler's timeout)
            body = b""
        if len(body) < length:
            self.close_connection = True
            raise BadRequest(400, "the body is shorter than its Content-Length")
        return body

    def do_PUT(self) -> None:
        self._refuse(BadRequest(405, "only GET and POST /api/derive"))

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True,
          workers: int = 2, time_limit: float = 10.0) -> None:
    """Run the server until interrupted, opening the page in the browser unless told not to."""
    try:
        server = Server(host, port, workers, time_limit, verbose=True)
    except OSError as error:    # the port is taken, the address is not this machine's
        raise DeriveError(f"cannot listen on {host}:{port}: {error.strerror or error}") \
            from None
    print(f"derive serve: {server.url} (Ctrl-C stops it)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"derive serve: listening on {host}: whoever can reach it can use it",
              flush=True)
    if open_browser:
        import webbrowser
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
