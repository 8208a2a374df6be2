"""Request gatekeeping as Cliniko does it: Basic auth with the API key, User-Agent, Accept.

The key is the Basic username with an empty password, accepted with or without its
shard suffix (`-au1`). Wrong or missing credentials get Rails' plain-text 401. A
User-Agent must name the app and carry a contact email in parentheses, e.g.
`MyApp (dev@example.com)`; otherwise 403 (switchable). JSON is the only representation,
so an Accept header that excludes it gets 406.
"""

from __future__ import annotations

import base64
import binascii
import re

from sandbox.common.http import Request, Response

DEFAULT_API_KEY = "sandbox-cliniko-key-au1"
_SHARD = re.compile(r"^[a-z]{2}\d{1,2}$")
_CONTACT = re.compile(r"\(\s*[^()\s@]+@[^()\s@]+\.[^()\s@]+\s*\)")


def split_shard(key: str) -> tuple[str, str | None]:
    """(key without shard suffix, shard or None)."""
    head, sep, tail = key.rpartition("-")
    if sep and head and _SHARD.match(tail):
        return head, tail
    return key, None


class KeyRing:
    """The accepted API keys; a key matches with its own shard suffix or with none."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one API key is needed")
        self._keys = {split_shard(k)[0]: split_shard(k)[1] for k in keys}

    def identify(self, presented: str) -> str | None:
        """The canonical key (without suffix) when `presented` is valid, else None."""
        base, shard = split_shard(presented)
        if base not in self._keys:
            return None
        if shard is not None and self._keys[base] is not None and shard != self._keys[base]:
            return None
        return base


def basic_username(request: Request) -> str | None:
    """The Basic-auth username when the password is empty, else None."""
    header = request.header("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or password or not user:
        return None
    return user


def denied() -> Response:
    return Response.text("HTTP Basic: Access denied.\n", 401, headers={"WWW-Authenticate": 'Basic realm="Application"'})


def user_agent_problem(request: Request) -> Response | None:
    agent = request.header("User-Agent") or ""
    if _CONTACT.search(agent) and agent.split("(", 1)[0].strip():
        return None
    return Response.json({
        "message": "A User-Agent header identifying your application with a contact email is required, "
                   "e.g. 'Really helpful app (devs@helpfulapp.com)'",
    }, 403)


def accepts_json(request: Request) -> bool:
    """True when the Accept header (absent = anything) admits application/json."""
    header = request.header("Accept")
    if header is None or not header.strip():
        return True
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and media.lower() in ("application/json", "application/*", "*/*"):
            return True
    return False


def not_acceptable() -> Response:
    return Response.text("Not Acceptable: this API only serves application/json\n", 406)
