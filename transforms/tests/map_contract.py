"""target-pipedrive's input contract (its JSON schemas), to validate what the map produces."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

STREAMS = ("custom_fields", "activity_types", "persons", "products", "activities", "notes", "files")


def _schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("target_pipedrive.schemas").joinpath(f"{name}.json").read_text())


@cache
def validator(stream: str) -> Draft202012Validator:
    registry = Registry().with_resource("_common.json", Resource.from_contents(_schema("_common")))
    return Draft202012Validator(_schema(stream), registry=registry, format_checker=FormatChecker())


def problems(stream: str, record: dict[str, Any]) -> list[str]:
    return [f"{stream}.{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(stream).iter_errors(record)]


def properties(stream: str) -> set[str]:
    return set(_schema(stream)["properties"])
