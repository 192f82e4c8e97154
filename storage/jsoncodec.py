"""JSON in and out, for the Bot API's requests and answers and the inbox.

orjson rather than the standard library: every update is decoded from getUpdates, written
to the inbox, and answered by one or two requests whose answers are decoded again; orjson
does each several times faster (figures in BENCHMARKS.md, from bench/json_codec.py). Its
output differs from `json.dumps` only in spelling (no spaces, no \\u escapes): what reads it
back gets the same values.

Not for the database's JSON columns: SQLAlchemy's default (the standard library, ASCII
escapes) stays. Queueing a broadcast serialises one payload per recipient at once, and
Vietnamese text kept as it is makes each of those strings two bytes per character in
Python instead of one: 12 MB more at the peak of a 10,000-recipient broadcast, for a few
microseconds saved per draft write.

What orjson refuses and the standard library takes (a lone UTF-16 surrogate, which no
Bot API server should send) goes through the standard library, escaped to ASCII, so such
an update is still stored and answered rather than stalling the intake.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS  # like json.dumps, which writes {1: …} as {"1": …}


def dumps_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return json.dumps(value).encode()


def dumps(value: Any) -> str:
    return dumps_bytes(value).decode()


def loads(text: str | bytes) -> Any:
    """Raises ValueError (both decoders' errors are ValueErrors) on text that is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
