"""``derive serve``: the local page and its JSON API (``POST /api/derive``).

request.py reads and checks a request and derives it (in a worker); workers.py runs
derivations in worker processes with a time limit; server.py is the HTTP server; static/
holds the page (HTML, JS, CSS) and the vendored KaTeX that renders its mathematics.
"""
