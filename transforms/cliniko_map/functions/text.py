"""Names and plain text: trimming, collapsing whitespace, choosing which name parts to show."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # C0/C1 controls other than whitespace
PREFERRED_STYLES = ("in_brackets", "replace_first", "ignore")
_NOT_TEXT = (dict, list, tuple, set, bool)


def clean(value: Any) -> str | None:
    """Trimmed text with inner whitespace runs collapsed; None for empty.

    Cliniko data carries stray spaces ("  Anne ") that would otherwise make two
    spellings of one name; NFC keeps composed and decomposed accents equal. Control
    characters (NUL, ESC, ...) are never text a person typed, and a list or object where
    Cliniko sends text is not a value to show (it would appear as "['a']").
    """
    if value is None or isinstance(value, _NOT_TEXT):
        return None
    text = value if type(value) is str else str(value)
    if text.isascii() and text.isprintable():  # the common case: NFC, controls and tabs cannot occur
        if "  " in text or text[:1] == " " or text[-1:] == " ":
            text = " ".join(text.split())
        return text or None
    text = _SPACE.sub(" ", _CONTROL.sub("", unicodedata.normalize("NFC", text))).strip()
    return text or None


def person_name(first_name: str | None, last_name: str | None, preferred_first_name: str | None = None,
                label: str | None = None, style: str = "in_brackets", fallback: str = "Unnamed patient") -> str:
    """Display name: first (preferred) last.

    Pipedrive has one `name`; keeping the legal first name and showing the preferred
    one beside it lets staff search by either. `style`: in_brackets ("Rebecca (Bec) Ng"),
    replace_first ("Bec Ng") or ignore ("Rebecca Ng"). Falls back to Cliniko's label,
    then `fallback`, because Pipedrive refuses a person without a name.
    """
    if style not in PREFERRED_STYLES:
        raise ValueError(f"unknown preferred-name style {style!r}")
    first, last, preferred = clean(first_name), clean(last_name), clean(preferred_first_name)
    if style == "ignore" or (preferred and first and preferred.casefold() == first.casefold()):
        preferred = None
    if preferred and (style == "replace_first" or not first):
        first, preferred = preferred, None
    given = f"{first} ({preferred})" if preferred else first
    name = " ".join(part for part in (given, last) if part)
    return name or clean(label) or fallback


def join_lines(*parts: Any, sep: str = "\n") -> str | None:
    """Non-empty parts joined; None when nothing is left."""
    kept = [clean(p) for p in parts]
    text = sep.join(p for p in kept if p)
    return text or None


def is_set(value: Any) -> bool:
    """True when a value is present (e.g. pinned_at -> pinned)."""
    return value not in (None, "", [], {})


def omit_if(value: Any, flag: Any) -> Any:
    """None when `flag` is set: a field left out by a policy (e.g. free-text notes under exclude_clinical)."""
    return None if flag else value


def kept_if(value: Any, flag: Any) -> Any:
    """`value` only when `flag` is set: a reference a choice turns on (None: nothing to watch or look up)."""
    return value if flag else None


def first_of(*values: Any) -> Any:
    """The first value that is not None or empty."""
    return next((v for v in values if v not in (None, "", [], {})), None)


def prefixed(value: Any, prefix: str = "", suffix: str = "") -> str | None:
    """`prefix + value + suffix` when value is present (e.g. '#' + invoice number)."""
    text = clean(value)
    return f"{prefix}{text}{suffix}" if text else None
