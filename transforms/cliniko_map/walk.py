"""Read a compiled map back as data: which Cliniko fields each stream sends where.

The plan shows this so a clinic can see exactly which fields leave Cliniko, and which
of them are clinical (dropped when `exclude_clinical` is on).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cliniko_map.spec import Call, From, Lookup, MapSpec, Rows, SourceKey, Spec, VarRef


def _reads(spec: Spec, vars_: dict[str, Spec], seen: frozenset[str] = frozenset()) -> Iterator[str]:
    """Record fields a value spec reads (through vars, lookups' `by`, function args)."""
    match spec:
        case From(path=path):
            yield ".".join(path)
        case Lookup(by=by) | SourceKey(by=by) | Rows(by=by):
            yield from _reads(by, vars_, seen)
        case VarRef(name=name) if name not in seen and name in vars_:
            yield from _reads(vars_[name], vars_, seen | {name})
        case Call(args=args, kwargs=kwargs):
            for arg in (*args, *(v for _, v in kwargs)):
                yield from _reads(arg, vars_, seen)


def describe(spec: MapSpec) -> list[dict[str, Any]]:
    exclude = bool(spec.policies["exclude_clinical"])
    out = []
    for name, stream in spec.streams.items():
        if stream.skip and not stream.rollup:
            out.append({"cliniko_stream": name, "to": None, "reason": stream.skip, "remembers": list(stream.remember)})
            continue
        for output in stream.outputs:
            vars_ = {**dict(spec.vars), **dict(output.vars)}
            clinical = stream.clinical or output.clinical
            reads: set[str] = set()
            written = []
            for field, value in (*output.fields, *output.custom_fields):
                dropped = exclude and (clinical or field in output.clinical_fields)
                label = spec.custom_fields[field].label if field in spec.custom_fields else field
                if not dropped:
                    reads.update(_reads(value, vars_))
                    written.append(label)
            out.append({"cliniko_stream": name, "to": output.to, "clinical": clinical,
                        "sent": not (exclude and clinical), "reads": sorted(reads), "writes": written,
                        "clinical_fields": sorted(output.clinical_fields)})
        if stream.rollup:
            rollup = spec.rollups[stream.rollup]
            part = rollup.parts[name]
            reads = set()
            for _, value in part.keep:
                reads.update(_reads(value, dict(spec.vars)))
            writes = [spec.custom_fields[fid].label for fid, _ in rollup.custom_fields] or [rollup.file_name]
            out.append({"cliniko_stream": name, "to": rollup.into, "rollup": rollup.name,
                        "clinical": stream.clinical, "sent": not (exclude and stream.clinical),
                        "reads": sorted(reads), "writes": writes, "clinical_fields": []})
    return out
