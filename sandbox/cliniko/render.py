"""Turn a stored row (plain body + relation ids in meta) into the JSON Cliniko serves.

Links are built at serve time so a row stays valid whichever host or port the client
used (127.0.0.1, localhost, a container name).
"""

from __future__ import annotations

from typing import Any

from sandbox.cliniko.corrupt import overlay
from sandbox.cliniko.resources import Resource


def _fill(template: str, context: dict[str, Any]) -> str | None:
    try:
        return template.format_map(context)
    except KeyError:  # the relation is absent (its id is missing or null)
        return None


def record(resource: Resource, body: dict[str, Any], meta: dict[str, Any], api_base: str) -> dict[str, Any]:
    """The API object for one row; `api_base` is e.g. `http://127.0.0.1:8080/v1`."""
    row_id = body["id"]
    out = dict(body)
    context = {"id": row_id, **{k: v for k, v in meta.items() if v is not None}}
    for link in resource.links:
        path = _fill(link.template, context)
        if path is not None:
            out[link.name] = {"links": {"self": api_base + path}}
        elif link.nullable:
            out[link.name] = None
    out["links"] = {"self": f"{api_base}/{resource.name}/{row_id}"}
    return dict(sorted(overlay(out, meta).items()))
