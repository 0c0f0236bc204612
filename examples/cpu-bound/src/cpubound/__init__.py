"""cpu-bound: a WSGI app whose requests burn CPU in pure Python and touch nothing else.

Each ``GET /work?n=N`` runs N rounds of a 64-bit integer mix (a linear congruential step followed by an
xor-shift) in the interpreter, holding the GIL the whole time; no backend, no I/O, no C extension doing the work.
A server that runs requests on threads of one process can therefore use at most one core per process, whatever
its thread count; a server with several worker processes can use one core per process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, request

__all__ = ["MAX_N", "MIN_N", "create_app", "mix"]

#: The range /work accepts for n (rounds): 1_000_000 rounds are roughly 0.1 s of one core.
MIN_N = 1
MAX_N = 1_000_000
#: The mix's starting state (the golden ratio's 64-bit fraction) and its LCG constants (Knuth's MMIX).
SEED = 0x9E3779B97F4A7C15
_MUL = 6364136223846793005
_INC = 1442695040888963407
_MASK = (1 << 64) - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")


def mix(n: int, x: int = SEED) -> int:
    """n rounds of x = (x * MUL + INC) mod 2**64, x ^= x >> 29: deterministic, pure Python, cost linear in n."""
    for _ in range(n):
        x = (x * _MUL + _INC) & _MASK
        x ^= x >> 29
    return x


def parse_n(raw: str | None) -> int:
    """The n of /work, or ValueError with the message the client gets."""
    if raw is None or raw == "":
        raise ValueError(f"missing query parameter n: the number of rounds, an integer {MIN_N}..{MAX_N}")
    if not _INTEGER.fullmatch(raw):
        raise ValueError(f"n={raw!r} is not an integer: give the number of rounds, {MIN_N}..{MAX_N}")
    # more digits than any accepted value: out of range, without converting a huge string
    n = int(raw) if len(raw) <= 16 else MAX_N + 1
    if not MIN_N <= n <= MAX_N:
        raise ValueError(f"n={raw} is out of range: the number of rounds must be {MIN_N}..{MAX_N}")
    return n


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The application factory: every WSGI server imports ``cpubound.wsgi:app``, which calls this."""
    app = Flask(__name__)
    if config:
        app.config.from_mapping(config)

    @app.get("/health")
    def health():
        return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}

    @app.get("/hello")
    def hello():
        return "hello", 200, {"Content-Type": "text/plain; charset=utf-8"}

    @app.get("/work")
    def work():
        try:
            n = parse_n(request.args.get("n"))
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(n=n, result=f"{mix(n):016x}")

    return app
