"""The tap's settings (names fixed by DESIGN.md) and the shard → base URL rule."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from singer_sdk import typing as th

SHARD = re.compile(r"^[a-z]{2}\d{1,2}$")
DEFAULT_MAX_RPM = 200

CONFIG_SCHEMA = th.PropertiesList(
    th.Property("api_key", th.StringType, required=True, secret=True,
                description="Cliniko API key (My Info → Manage API keys); its suffix names the shard, e.g. -au2"),
    th.Property("user_agent", th.StringType, required=True,
                description="Sent verbatim; Cliniko requires 'AppName (contact@email)'"),
    th.Property("base_url", th.StringType,
                description="Default https://api.<shard>.cliniko.com/v1 with the shard from the key's suffix"),
    th.Property("start_date", th.DateTimeType, description="Only rows updated at or after this time (first run)"),
    th.Property("attachments_dir", th.StringType,
                description="When set, download every patient attachment here and add local_path and sha256"),
    th.Property("sample_patients", th.IntegerType,
                description="Emit only the first N patients (lowest ids) and the records that belong to them"),
    th.Property("max_requests_per_minute", th.IntegerType, default=DEFAULT_MAX_RPM,
                description="Proactive pacing; Cliniko allows 200 per minute per user (0 = no pacing)"),
    th.Property("page_size", th.IntegerType, default=100, description="Rows per list request (Cliniko's max is 100)"),
    th.Property("request_timeout", th.IntegerType, default=60, description="Seconds before a request is retried"),
    th.Property("max_retries", th.IntegerType, default=12,
                description="Attempts per request on 429, 5xx, timeouts and dropped connections"),
).to_dict()


def shard_of(api_key: str) -> str:
    """Cliniko appends the shard after the last '-'; keys without one live on au1."""
    if "-" in api_key:
        tail = api_key.rsplit("-", 1)[1].lower()
        if SHARD.match(tail):
            return tail
    return "au1"


def api_base_url(config: Mapping[str, Any]) -> str:
    base = config.get("base_url") or f"https://api.{shard_of(str(config['api_key']))}.cliniko.com/v1"
    return str(base).rstrip("/")


def insecure_base_url(config: Mapping[str, Any]) -> str | None:
    """Return the host when `base_url` would send the key unencrypted off this machine."""
    parsed = urlparse(api_base_url(config))
    host = parsed.hostname or ""
    if parsed.scheme not in {"http", "https"}:
        return host or "(none)"
    if parsed.scheme == "https" or host in {"localhost", "127.0.0.1", "::1"} or host.startswith("127."):
        return None
    return host or "(none)"
