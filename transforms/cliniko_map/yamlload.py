"""Load YAML keeping line numbers, so a bad map is reported as `file:line: reason`.

PyYAML's safe loader, with two changes: mappings and sequences remember the line they
start on (and each key its own line), and a key given twice is an error instead of the
silent "last one wins".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class MapError(ValueError):
    """An invalid map: where (file and line) and why."""

    def __init__(self, reason: str, file: str | None = None, line: int | None = None) -> None:
        self.reason, self.file, self.line = reason, file, line
        where = f"{file or '<map>'}:{line}" if line else (file or "<map>")
        super().__init__(f"{where}: {reason}")


class LDict(dict):
    """A mapping that knows its line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return getattr(self, "key_lines", {}).get(key, self.line)


class LList(list):
    """A sequence that knows its line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        lines = getattr(self, "item_lines", [])
        return lines[index] if 0 <= index < len(lines) else self.line


def line_of(value: Any, default: int = 0) -> int:
    return int(getattr(value, "line", 0) or default)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading (libyaml's parser when present: ten times faster) with our constructors."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    out = LDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise MapError("mapping keys must be plain scalars", line=key_node.start_mark.line + 1)
        if key in out:
            raise MapError(f"key '{key}' is given twice (first on line {out.key_lines[key]})",
                           line=key_node.start_mark.line + 1)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_text(text: str, file: str | None = None) -> Any:
    """Parse YAML text into LDict/LList trees; syntax errors become MapError with the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from (C)SafeLoader
    except MapError as exc:
        raise MapError(exc.reason, file, exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part) or "invalid YAML"
        raise MapError(f"YAML syntax: {reason}", file, mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise MapError(f"YAML syntax: {exc}", file) from None


def load_file(path: str | Path) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MapError(f"cannot read the map: {exc.strerror or exc}", str(p)) from None
    except UnicodeDecodeError:
        raise MapError("the map is not UTF-8 text", str(p)) from None
    return load_text(text, str(p))
