"""The map's rules as closures, built once per loaded map so a record costs direct calls.

Everything that depends only on the map (its policies, prefix, custom field labels, which
fields `exclude_clinical` drops) is settled here; what depends on the record or the map's
memory (vars, lookups, custom field options from settings) is left to run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cliniko_map.evaluate import Value, compile_call, compile_value
from cliniko_map.spec import MapSpec, Need, Output, Part, Spec


@dataclass(frozen=True)
class CompiledNeed:
    table: str
    by: Value
    where: str | None  # None: rows of `table` by id; a field: the rows whose field equals `by` (watched)


@dataclass(frozen=True)
class CompiledOutput:
    vars: dict[str, Value]  # the map's vars with the output's own over them
    key_head: str  # "<prefix>:<key kind>:"
    key_by: Value
    needs: tuple[CompiledNeed, ...]
    skip_if: tuple[tuple[Value, int], ...]
    fields: tuple[tuple[str, Value], ...]  # without those exclude_clinical drops
    custom_fields: tuple[tuple[str, str, Value], ...]  # label, id, value


@dataclass(frozen=True)
class CompiledPart:
    by: Value
    needs: tuple[CompiledNeed, ...]
    skip_if: tuple[tuple[Value, int], ...]
    keep: tuple[tuple[str, Value], ...]
    only_if: Value | None = None


@dataclass(frozen=True)
class CompiledMap:
    vars: dict[str, Value]
    outputs: dict[str, tuple[CompiledOutput, ...]]  # by stream, parallel to StreamSpec.outputs
    parts: dict[tuple[str, str], CompiledPart]  # by (rollup, stream)
    rollups: dict[str, Callable[..., Any]]  # rollup name -> its compute (env, **parts)
    artifacts: dict[str, Callable[..., Any]]
    watched: dict[str, tuple[str, ...]]  # table -> fields some output watches (needs with `where`)
    remember_if: dict[str, Value]  # stream -> whether to remember a record (streams that say remember_if)


def compile_rules(spec: MapSpec) -> CompiledMap:
    def value(s: Spec) -> Value:
        return compile_value(s, file=spec.file, prefix=spec.prefix, policies=spec.policies)

    def needs(items: tuple[Need, ...]) -> tuple[CompiledNeed, ...]:
        return tuple(CompiledNeed(need.table, value(need.by), need.where) for need in items)

    exclude = bool(spec.policies["exclude_clinical"])
    global_vars = {name: value(s) for name, s in spec.vars}

    def output(o: Output) -> CompiledOutput:
        own = {name: value(s) for name, s in o.vars}
        custom = tuple((spec.custom_fields[fid].label, fid, value(s))
                       for fid, s in o.custom_fields if not (exclude and fid in o.clinical_fields))
        return CompiledOutput(
            vars={**global_vars, **own}, key_head=f"{spec.prefix}:{o.key_kind}:", key_by=value(o.key_by),
            needs=needs(o.needs), skip_if=tuple((value(rule), rule.line) for rule in o.skip_if),
            fields=tuple((name, value(s)) for name, s in o.fields if not (exclude and name in o.clinical_fields)),
            custom_fields=custom)

    def part(p: Part) -> CompiledPart:
        return CompiledPart(by=value(p.by), needs=needs(p.needs),
                            skip_if=tuple((value(rule), rule.line) for rule in p.skip_if),
                            keep=tuple((name, value(s)) for name, s in p.keep),
                            only_if=None if p.only_if is None else value(p.only_if))

    def call(s: Any) -> Callable[..., Any]:
        return compile_call(s, file=spec.file, prefix=spec.prefix, policies=spec.policies)

    return CompiledMap(
        vars=global_vars,
        outputs={name: tuple(output(o) for o in stream.outputs) for name, stream in spec.streams.items()},
        parts={(r.name, stream): part(p) for r in spec.rollups.values() for stream, p in r.parts.items()},
        rollups={name: call(r.compute) for name, r in spec.rollups.items()},
        artifacts={name: call(a.compute) for name, a in spec.artifacts.items()},
        watched=_watched(spec),
        remember_if={name: value(stream.remember_if) for name, stream in spec.streams.items()
                     if stream.remember_if is not None})


def _watched(spec: MapSpec) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for stream in spec.streams.values():
        for o in stream.outputs:
            for need in o.needs:
                if need.where is not None and need.where not in found.setdefault(need.table, []):
                    found[need.table].append(need.where)
    return {table: tuple(fields) for table, fields in found.items()}
