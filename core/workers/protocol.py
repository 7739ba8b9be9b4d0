"""The messages between the host and a worker process: JSON, never pickle, from the worker.

A worker runs plugin code, so everything it sends is untrusted: the host reads it as JSON of
a bounded size (unpickling it would let a plugin run code in the host) and checks every field.

host -> worker  request: {"function": name, "input": canonical input JSON}
worker -> host  hello:   {"pid": int, "preloaded": bool, "failed": {plugin: error}}
                answer:  {"status": "succeeded"}, then the result JSON itself
                         {"status": "failed", "error": "ValueError: ...", "traceback": "..."}
                         {"status": "invalid_result", "error": "item 0 is a dict, not a block"}
"""

from __future__ import annotations

import json
from typing import Any

HEADER_LIMIT = 256 * 1024  # a hello or an answer's header, tracebacks included
TRACEBACK_LIMIT = 64 * 1024
ERROR_LIMIT = 2000
ANSWER_STATUSES = frozenset({"succeeded", "failed", "invalid_result"})


class ProtocolError(Exception):
    """The worker sent something that is not a well-formed message."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def decode(data: bytes) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except ValueError as error:
        raise ProtocolError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a {type(message).__name__}, not an object")
    return message


def text_field(message: dict[str, Any], key: str, limit: int) -> str:
    value = message.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"{key!r} is not text")
    return value if len(value) <= limit else value[:limit] + " [cut]"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " [cut]"
