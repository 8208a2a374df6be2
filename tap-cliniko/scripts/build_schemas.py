"""Derive the tap's stream schemas from Cliniko's official OpenAPI file.

Run by a developer when Cliniko's spec changes; the output (tap_cliniko/schemas/*.json)
is committed and reviewed as data, so the tap never needs the spec at run time:

    python tap-cliniko/scripts/build_schemas.py ../shared/specs/cliniko-openapi.yaml

Rules: OpenAPI `nullable` becomes a JSON-schema null type and every property except the
key and the replication key may be null or absent (Cliniko omits empty relations);
`anyOf`/`oneOf` branches are merged so no field of any variant is dropped; every link
object that points at one record gets a plain `<name>_id` sibling.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from tap_cliniko.resources import RESOURCES

# stream -> its component in the spec, from the one list of Cliniko resources
STREAM_COMPONENTS = {resource.name: resource.component for resource in RESOURCES}
REQUIRED = {"id", "updated_at"}
ONE_RECORD_LINK = re.compile(r"/v1/[a-z_]+/\d+$")
# Links the spec gives no example for but which point at one record.
EXTRA_ONE_RECORD_LINKS = {"merged_with_patient", "referring_doctor", "original_invoice", "repeated_from"}
# Links that look like one record but point at a sub-resource (attachment bytes).
NOT_RECORD_LINKS = {"content"}


class Builder:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.schemas = spec["components"]["schemas"]

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.schemas[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def merge_variants(self, variants: list[dict[str, Any]]) -> dict[str, Any]:
        merged: dict[str, Any] = {"type": "object", "properties": {}}
        for variant in variants:
            variant = self.resolve(variant)
            for name, prop in (variant.get("properties") or {}).items():
                converted = self.convert(prop)
                if name in merged["properties"]:
                    merged["properties"][name] = union(merged["properties"][name], converted)
                else:
                    merged["properties"][name] = converted
                link_id = link_id_name(name, prop, self)
                if link_id:
                    merged["properties"][link_id] = {"type": ["string", "null"]}
        return merged

    def convert(self, node: dict[str, Any], *, nullable_default: bool = True) -> dict[str, Any]:
        node = self.resolve(node)
        for combinator in ("anyOf", "oneOf", "allOf"):
            if combinator in node:
                variants = [self.resolve(v) for v in node[combinator]]
                if all(v.get("type", "object") == "object" for v in variants):
                    out = self.merge_variants(variants)
                else:
                    out = {"type": sorted({t for v in variants for t in as_types(self.convert(v))})}
                return with_null(out, nullable_default)
        kind = node.get("type") or ("object" if "properties" in node else None)
        out: dict[str, Any] = {}
        if kind == "object":
            out["type"] = "object"
            props = node.get("properties")
            if props:
                out["properties"] = {}
                for name, prop in props.items():
                    out["properties"][name] = self.convert(prop)
                    link_id = link_id_name(name, prop, self)
                    if link_id and link_id not in props:
                        out["properties"][link_id] = {"type": ["string", "null"]}
            else:
                out["additionalProperties"] = True
        elif kind == "array":
            out["type"] = "array"
            out["items"] = self.convert(node.get("items") or {}, nullable_default=False)
        elif kind in {"string", "integer", "number", "boolean"}:
            out["type"] = kind
            fmt = node.get("format")
            if kind == "string" and fmt in {"date-time", "date", "uri", "email"}:
                out["format"] = fmt
            if kind == "string" and fmt == "decimal":
                out["description"] = "decimal amount as a string (exact, never a float)"
            if kind == "string" and fmt == "int64":
                out["description"] = "64-bit integer id as a string"
        else:
            out = {}
        if "enum" in node and kind != "object":
            out["enum"] = [v for v in node["enum"] if v is not None]
        return with_null(out, nullable_default or bool(node.get("nullable")))

    def stream_schema(self, stream: str) -> dict[str, Any]:
        root = self.convert(self.schemas[STREAM_COMPONENTS[stream]], nullable_default=False)
        root.pop("additionalProperties", None)
        props = root["properties"]
        for name in REQUIRED & props.keys():
            props[name] = strip_null(props[name])
        for name in ("enum",):
            for prop in props.values():
                if name in prop and "null" in as_types(prop):
                    prop[name] = [*prop[name], None]
        if stream == "settings":
            props["id"] = {"type": "string", "description": "constant key: the account's settings"}
        if stream == "practitioners":  # the tap reads /practitioners and /practitioners/inactive
            props["status"] = {"type": ["string", "null"], "enum": ["active", "inactive", None],
                               "description": "which list the row came from (active or inactive practitioners)"}
        if stream == "patient_attachments":
            props["local_path"] = {"type": ["string", "null"], "description": "downloaded file (attachments_dir)"}
            props["sha256"] = {"type": ["string", "null"], "description": "sha256 of the downloaded bytes"}
        required = sorted(REQUIRED & props.keys()) if stream != "settings" else ["id"]
        return {"type": "object", "properties": dict(sorted(props.items())), "required": required}


def link_id_name(name: str, prop: dict[str, Any], builder: Builder) -> str | None:
    prop = builder.resolve(prop)
    links = (prop.get("properties") or {}).get("links")
    if name == "links" or name in NOT_RECORD_LINKS or not links:
        return None
    example = ((links.get("properties") or {}).get("self") or {}).get("example", "")
    if ONE_RECORD_LINK.search(example) or name in EXTRA_ONE_RECORD_LINKS:
        return f"{name}_id"
    return None


def as_types(node: dict[str, Any]) -> list[str]:
    kind = node.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def with_null(node: dict[str, Any], nullable: bool) -> dict[str, Any]:
    if not nullable or not node.get("type"):
        return node
    types = as_types(node)
    if "null" not in types:
        node["type"] = [*types, "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
    return node


def strip_null(node: dict[str, Any]) -> dict[str, Any]:
    types = [t for t in as_types(node) if t != "null"]
    node["type"] = types[0] if len(types) == 1 else types
    return node


def union(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if a == b:
        return a
    if a.get("properties") is not None and b.get("properties") is not None:
        merged = dict(a)
        merged["properties"] = {**b["properties"], **a["properties"]}
        merged["type"] = sorted(set(as_types(a)) | set(as_types(b)))
        return merged
    types = sorted(set(as_types(a)) | set(as_types(b)))
    out = {**b, **a, "type": types}
    for key in ("enum", "format"):
        if a.get(key) != b.get(key):
            out.pop(key, None)
    return out


def main(spec_path: str) -> None:
    spec = yaml.safe_load(Path(spec_path).read_text())
    builder = Builder(spec)
    out_dir = Path(__file__).resolve().parents[1] / "tap_cliniko" / "schemas"
    for stream in STREAM_COMPONENTS:
        schema = builder.stream_schema(stream)
        (out_dir / f"{stream}.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        print(f"{stream}: {len(schema['properties'])} properties")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/specs/cliniko-openapi.yaml")
