"""Lenient v1 input: JSON or form-encoded bodies, numbers and flags given as strings.

v1 accepts `application/x-www-form-urlencoded` as well as JSON and coerces "5" to 5 and
"1"/"0" to flags; unknown keys are ignored (research notes §2.3, §16).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

from sandbox.common.http import Request
from sandbox.pipedrive.responses import fail_v1


def read_body(request: Request) -> dict[str, Any]:
    ctype = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if not request.body.strip():
        return {}
    if ctype == "application/x-www-form-urlencoded":
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in form.items()}
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise fail_v1("Bad request") from None
    if not isinstance(body, dict):
        raise fail_v1("Bad request")
    return body


def as_int(value: Any, name: str) -> int | None:
    """Integer from an int or a digit string; None for null/empty; 400 for anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise fail_v1(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        return int(value)
    raise fail_v1(f"{name} must be an integer")


def as_flag(value: Any, name: str) -> bool:
    if value in (True, 1, "1", "true"):
        return True
    if value in (False, 0, "0", "false", None, ""):
        return False
    raise fail_v1(f"{name} must be 0 or 1")
