"""Names people recognise, and where to click, for the records in the reports.

A clinic manager cannot tell `cliniko:individual_appointment:1539...` from another; they can
tell "Initial consultation, 2024-05-01 - Ann Lee". The names come from what the migration
wrote (the crosswalk's after-images, merged oldest first) or, for a record that is not in
Pipedrive yet, from the record the crosswalk keeps for it; never from an API call, so a
report is written offline. These reports are local and owner-only (they are meant to show
the operator patient data). Links go to the object's page in Pipedrive's web app: a person's
page (`<company>.pipedrive.com/person/<id>`) for persons and for the activities, notes and
files that hang on them; a product's page for products.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.workflow.normalize import merge_images


def web_root(base_url: str, company_domain: str | None) -> str | None:
    """Where Pipedrive's web app shows this account: the company domain, or the base URL itself when it is
    one (`https://acme.pipedrive.com`) or a sandbox on this machine."""
    root = base_url.rstrip("/")
    if root.startswith("http://"):  # a sandbox on this machine (plain http is refused anywhere else)
        return root
    if company_domain:
        return f"https://{company_domain}.pipedrive.com"
    if root.endswith(".pipedrive.com") and "://api." not in root:
        return root
    return None


def kind_words(key: str) -> str:
    """`cliniko:treatment_note:55` -> "Treatment note 55"."""
    parts = key.split(":")
    if len(parts) >= 3:
        return f"{parts[-2].replace('_', ' ').capitalize()} {parts[-1]}"
    return key


class Labels:
    def __init__(self, crosswalk: Crosswalk, web: str | None) -> None:
        self.web = web
        history: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for change in crosswalk.changes():
            history[(change["stream"], change["source_key"])].append(change["after_image"] or {})
        self.images = {ident: merge_images(images) for ident, images in history.items()}
        self.ids = {(m["stream"], m["source_key"]): int(m["pipedrive_id"]) for m in crosswalk.all_mappings()}
        self.person_name: dict[int, str] = {}
        self.person_of_key: dict[str, int] = {}
        for (stream, key), image in self.images.items():
            if stream == "persons" and (stream, key) in self.ids:
                pid = self.ids[(stream, key)]
                self.person_of_key[key] = pid
                if image.get("name"):
                    self.person_name[pid] = str(image["name"])

    def label(self, stream: str, key: str, record: dict[str, Any] | None = None) -> str:
        """A name for the record: what it is called in Pipedrive, or (not written yet) in its own record."""
        image = self.images.get((stream, key)) or {}
        source = record or {}
        whose = self._whose(image, source, key)
        if stream == "persons":
            return str(image.get("name") or source.get("name") or kind_words(key))
        if stream == "activities":
            what = image.get("subject") or source.get("subject") or kind_words(key)
            when = image.get("due_date") or source.get("due_date")
            return f"{what}, {when}{whose}" if when else f"{what}{whose}"
        if stream == "notes":
            return f"{kind_words(key)}{whose or ' (a note)'}"
        if stream == "files":
            return f"{image.get('name') or source.get('file_name') or kind_words(key)}{whose}"
        if stream in ("products", "activity_types"):
            return str(image.get("name") or source.get("name") or kind_words(key))
        if stream == "custom_fields":
            return f"{image.get('name') or source.get('label') or key} ({image.get('_entity') or 'custom'} field)"
        return kind_words(key)

    def manual(self, message: str) -> tuple[str | None, str | None]:
        """A file to attach by hand: its name and its person's page, from the audit message the writer wrote
        (it names both: "... attach the file '<name>' to <person source key> by hand")."""
        found = re.search(r"the file '(.*)' to (\S+) by hand", message or "")
        if not found:
            return None, None
        whose = self.person_name.get(self.person_of_key.get(found.group(2), -1))
        return found.group(1) + (f" - {whose}" if whose else ""), self.person_url(found.group(2))

    def url(self, stream: str, key: str) -> str | None:
        """The object's page in Pipedrive's web app (a child's: its person's)."""
        if self.web is None:
            return None
        pid = self.ids.get((stream, key))
        if stream == "persons" and pid is not None:
            return f"{self.web}/person/{pid}"
        if stream == "products" and pid is not None:
            return f"{self.web}/product/{pid}"
        person = self._person_id(self.images.get((stream, key)) or {}, {}, key)
        return f"{self.web}/person/{person}" if person is not None else None

    def person_url(self, person_key: str | None) -> str | None:
        pid = self.person_of_key.get(person_key or "")
        return f"{self.web}/person/{pid}" if self.web and pid is not None else None

    def _person_id(self, image: dict[str, Any], record: dict[str, Any], key: str) -> int | None:
        for value in (image.get("person_id"), image.get("_person_id"),
                      *(p.get("person_id") for p in image.get("participants") or [] if isinstance(p, dict))):
            if isinstance(value, int | str) and str(value).lstrip("-").isdigit():
                return int(value)
        ref = record.get("person_source_key")
        if ref in self.person_of_key:
            return self.person_of_key[ref]
        if key.startswith("cliniko:communications:"):  # a patient's communications file: keyed by the patient
            return self.person_of_key.get("cliniko:patient:" + key.rsplit(":", 1)[-1])
        return None

    def _whose(self, image: dict[str, Any], record: dict[str, Any], key: str) -> str:
        pid = self._person_id(image, record, key)
        name = self.person_name.get(pid) if pid is not None else None
        return f" - {name}" if name else ""

