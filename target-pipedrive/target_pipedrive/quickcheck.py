"""A compiled yes-check of the contract schemas: `True` only for records jsonschema surely accepts.

jsonschema walks a schema afresh for every record, the largest per-record cost of the
target after its HTTP requests. The contract uses a small set of keywords, so each schema
is compiled once into plain Python predicates. They err on one side only: a predicate may
say "not sure" (False) for a valid value (a float where an integer is allowed, an enum or
unique-items check of unusual values), never "valid" for an invalid one; a False sends the
record to the full validator, which also words the errors. A schema using any keyword not
handled here is not compiled at all (`compile_schema` returns None).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "format", "examples",
                         "default", "deprecated", "readOnly", "writeOnly"})  # format: not asserted by default
_TYPES: dict[str, tuple[type, ...]] = {  # exact Python types only: subclasses and the like are left to jsonschema
    "string": (str,),
    "integer": (int,),  # floats like 1.0 are integers to jsonschema: left to it
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
_EXACT_UNDER_NOT = frozenset({"pattern", "minLength", "maxLength"})  # predicates that are exact for any value


class Unsupported(Exception):
    """A keyword or construct the compiler does not handle: the full validator is used instead."""


def compile_schema(schema: Any, defs: dict[str, Any]) -> Check | None:
    """`defs`: the `$defs` of `_common.json`, which the contract's `$ref`s point into."""
    try:
        return _compile(schema, defs)
    except Unsupported:
        return None


def _compile(schema: Any, defs: dict[str, Any]) -> Check:
    if schema is True or schema == {}:
        return lambda v: True
    if not isinstance(schema, dict):
        raise Unsupported(repr(schema)[:40])
    checks: list[Check] = []
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS:
            continue
        maker = _KEYWORDS.get(keyword)
        if maker is None:
            raise Unsupported(keyword)
        made = maker(value, schema, defs)
        if made is not None:
            checks.append(made)
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)


def _ref(ref: Any, _schema: dict[str, Any], defs: dict[str, Any]) -> Check:
    for prefix in ("_common.json#/$defs/", "#/$defs/"):
        if isinstance(ref, str) and ref.startswith(prefix) and ref[len(prefix):] in defs:
            return _compile(defs[ref[len(prefix):]], defs)
    raise Unsupported(f"$ref {ref}")


def _type(value: Any, _schema: dict[str, Any], _defs: dict[str, Any]) -> Check:
    names = [value] if isinstance(value, str) else list(value)
    if any(name not in _TYPES for name in names):
        raise Unsupported(f"type {value}")
    exact = frozenset(t for name in names for t in _TYPES[name])
    return lambda v: type(v) in exact


def _enum(values: Any, _schema: dict[str, Any], _defs: dict[str, Any]) -> Check:
    # only None, strings and true ints are compared here (bool vs int and 1 vs 1.0 are jsonschema's call)
    allowed = {(type(v), v) for v in values if v is None or type(v) in (str, int)}
    return lambda v: (v is None or type(v) in (str, int)) and (type(v), v) in allowed


def _min_length(n: Any, _schema: dict[str, Any], _defs: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, str) or len(v) >= n


def _max_length(n: Any, _schema: dict[str, Any], _defs: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, str) or len(v) <= n


def _pattern(text: Any, _schema: dict[str, Any], _defs: dict[str, Any]) -> Check:
    search = re.compile(text).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _required(names: Any, _schema: dict[str, Any], _defs: dict[str, Any]) -> Check:
    wanted = tuple(names)
    return lambda v: not isinstance(v, dict) or all(name in v for name in wanted)


def _properties(props: Any, _schema: dict[str, Any], defs: dict[str, Any]) -> Check:
    compiled = {name: _compile(sub, defs) for name, sub in props.items()}

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for name, value in v.items():
            sub = compiled.get(name)
            if sub is not None and not sub(value):
                return False
        return True
    return check


def _additional(value: Any, schema: dict[str, Any], defs: dict[str, Any]) -> Check | None:
    if "patternProperties" in schema:
        raise Unsupported("patternProperties")
    known = frozenset(schema.get("properties") or {})
    if value is True or value == {}:
        return None
    if value is False:
        return lambda v: not isinstance(v, dict) or known.issuperset(v)
    sub = _compile(value, defs)
    return lambda v: not isinstance(v, dict) or all(sub(x) for k, x in v.items() if k not in known)


def _items(value: Any, schema: dict[str, Any], defs: dict[str, Any]) -> Check:
    if "prefixItems" in schema or not isinstance(value, (dict, bool)):
        raise Unsupported("prefixItems / array form of items")
    sub = _compile(value, defs)
    return lambda v: not isinstance(v, list) or all(sub(x) for x in v)


def _unique(value: Any, _schema: dict[str, Any], _defs: dict[str, Any]) -> Check | None:
    if value is not True:
        return None
    # strings only: the equality rules for other values (1 vs 1.0 vs true) are jsonschema's call
    return lambda v: not isinstance(v, list) or (all(type(x) is str for x in v) and len(set(v)) == len(v))


def _any_of(subs: Any, _schema: dict[str, Any], defs: dict[str, Any]) -> Check:
    compiled = [_compile(sub, defs) for sub in subs]
    return lambda v: any(check(v) for check in compiled)


def _not(sub: Any, _schema: dict[str, Any], defs: dict[str, Any]) -> Check:
    # negating a one-sided predicate would turn "not sure" into "valid": only exact ones are negated
    if not isinstance(sub, dict) or not sub or not _EXACT_UNDER_NOT.issuperset(sub):
        raise Unsupported("not")
    inner = _compile(sub, defs)
    return lambda v: not inner(v)


def _property_names(sub: Any, _schema: dict[str, Any], defs: dict[str, Any]) -> Check:
    inner = _compile(sub, defs)
    return lambda v: not isinstance(v, dict) or all(inner(k) for k in v)


_KEYWORDS: dict[str, Callable[[Any, dict[str, Any], dict[str, Any]], Check | None]] = {
    "$ref": _ref, "type": _type, "enum": _enum, "minLength": _min_length, "maxLength": _max_length,
    "pattern": _pattern, "required": _required, "properties": _properties, "additionalProperties": _additional,
    "items": _items, "uniqueItems": _unique, "anyOf": _any_of, "not": _not, "propertyNames": _property_names,
}
