#!/usr/bin/env python3
"""Renders docs/serve.png, the picture of `derive serve`'s page: the sparse-coding cost of
UFLDL's first example, as a link would open it, photographed by headless Chromium
(Debian: chromium). Run from anywhere: python3 scripts/render_serve_screenshot.py"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive.serve.request import Request  # noqa: E402  (after the path is set)
from derive.serve.server import Server  # noqa: E402

FORMULA = "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2"
SHAPES = ("s=n,k", "x=m,k")
OUT = ROOT / "docs" / "serve.png"


def main() -> None:
    server = Server("127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # Derive once before the picture (the page asks the same and gets it at once).
        server.derive(Request(FORMULA, ("A",), SHAPES, (), "grad", steps=True, check=True))
        link = server.url + "?" + urlencode([("f", FORMULA), ("wrt", "A")] +
                                            [("shape", s) for s in SHAPES])
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-quic", "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                            f"--user-data-dir={profile}", "--window-size=1100,1180",
                            "--virtual-time-budget=10000", f"--screenshot={OUT}", link],
                           check=True, capture_output=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
