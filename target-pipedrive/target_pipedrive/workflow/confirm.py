"""Confirming a map: write a copy whose confirmation block says confirmed, for this content.

The confirmation covers the map's hash (its content without the confirmation block), so
any later edit of a rule un-confirms it. Only the two lines of the block change; the
comments and layout of the file are kept, so the confirmed copy stays reviewable.
"""

from __future__ import annotations

import re
from pathlib import Path

from target_pipedrive.input.mapping import MapLoadError, is_confirmed, load_map

BLOCK = re.compile(r"^confirmation:[^\n]*\n((?:[ \t]+[^\n]*\n|[ \t]*\n)*)", re.MULTILINE)


def confirmed_text(text: str, digest: str) -> str:
    """The map text with `confirmation: {confirmed: true, confirmed_plan: <digest>}`."""
    block = f"confirmation:\n  confirmed: true\n  confirmed_plan: \"{digest}\"\n"
    match = BLOCK.search(text)
    if match is None:
        return text.rstrip("\n") + "\n\n" + block
    return text[: match.start()] + block + text[match.end():]


def confirm(source: str | None, out: str, output_dir: str = "output/map") -> str:
    """Write the confirmed copy of `source` (default: the packaged map) to `out`; returns the hash."""
    m = load_map(source, output_dir)
    src = Path(source) if source else Path(m.spec.file)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(confirmed_text(src.read_text(encoding="utf-8"), m.digest), encoding="utf-8")
    check = load_map(str(target), output_dir)
    if not is_confirmed(check):
        raise MapLoadError(f"could not confirm {src}: its confirmation block is not in the expected layout.")
    return str(m.digest)
