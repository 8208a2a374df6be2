"""The compiled map: immutable objects the YAML becomes (see compiler.py for the checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# -- value specs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    line: int


@dataclass(frozen=True)
class From(Spec):
    path: tuple[str, ...]


@dataclass(frozen=True)
class Const(Spec):
    value: Any


@dataclass(frozen=True)
class PolicyRef(Spec):
    name: str


@dataclass(frozen=True)
class Lookup(Spec):
    table: str
    by: Spec
    field: str | None


@dataclass(frozen=True)
class VarRef(Spec):
    name: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class SourceKey(Spec):
    kind: str
    by: Spec


@dataclass(frozen=True)
class Call(Spec):
    fn: str
    args: tuple[Spec, ...]
    kwargs: tuple[tuple[str, Spec], ...]


@dataclass(frozen=True)
class TableRef(Spec):
    name: str


@dataclass(frozen=True)
class Rows(Spec):
    """The remembered rows of `table` whose field `where` equals `by` (a one-to-many relation)."""

    table: str
    where: str
    by: Spec


@dataclass(frozen=True)
class ContextRef(Spec):
    name: str


# -- map structure ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Need:
    """A row the output waits for (`table` by id `by`, or each id of a list), or with `where`:
    the rows of `table` whose field `where` equals `by`, any number of them; the output is
    mapped again when one of them arrives or changes."""

    table: str
    by: Spec
    line: int
    where: str | None = None


@dataclass(frozen=True)
class Output:
    to: str
    key_kind: str
    key_by: Spec
    needs: tuple[Need, ...]
    vars: tuple[tuple[str, Spec], ...]
    skip_if: tuple[Spec, ...]
    fields: tuple[tuple[str, Spec], ...]
    custom_fields: tuple[tuple[str, Spec], ...]
    clinical: bool
    clinical_fields: frozenset[str]
    line: int


@dataclass(frozen=True)
class StreamSpec:
    name: str
    remembers: bool
    remember: tuple[str, ...]
    skip: str | None
    rollup: str | None
    outputs: tuple[Output, ...]
    clinical: bool
    line: int
    remember_if: Spec | None = None  # false for a record: it is not remembered (a choice's memory, off when off)


@dataclass(frozen=True)
class Part:
    stream: str
    by: Spec
    needs: tuple[Need, ...]
    skip_if: tuple[Spec, ...]
    keep: tuple[tuple[str, Spec], ...]
    only_if: Spec | None = None  # a record for which this is false is not part of the rollup (nothing reported)


@dataclass(frozen=True)
class Rollup:
    name: str
    into: str
    group_kind: str
    key_kind: str
    parts: dict[str, Part]
    compute: Call
    custom_fields: tuple[tuple[str, str], ...]
    file_name: str | None
    line: int


@dataclass(frozen=True)
class Artifact:
    name: str
    file: str
    compute: Call
    tables: frozenset[str]


@dataclass(frozen=True)
class CustomField:
    id: str
    entity: str
    label: str
    field_type: str
    options: tuple[str, ...]
    options_from: tuple[str | None, str] | None


@dataclass(frozen=True)
class MapSpec:
    file: str
    confirmed: bool
    confirmed_plan: str | None
    external_id_label: str
    prefix: str
    policies: dict[str, Any]
    custom_fields: dict[str, CustomField]
    vars: tuple[tuple[str, Spec], ...]
    streams: dict[str, StreamSpec]
    rollups: dict[str, Rollup]
    artifacts: dict[str, Artifact]
    digest: str
    remembered: dict[str, tuple[str, ...]] = field(default_factory=dict)
