"""Crash safety: the write-ahead intent protocol and the recovery that closes open intents.

Every write follows the same order:
1. an intent row (what we are about to create/update, how to find it again, and for
   updates the before-image) is committed to the crosswalk;
2. the request is sent;
3. the reply's id, the mapping, the change history and the intent's removal are
   committed in ONE transaction.
A SIGKILL between 1 and 3 leaves the intent open. At the start of the next run each open
intent is resolved against Pipedrive: a create is looked up by its marker (external-id
custom field for persons/products, `[ref:<source key>]` in the text of notes/activities,
name+size for files, name for definitions) and adopted if found, so it is never created
twice; an update is checked field by field and recorded (with the before-image taken
before the first attempt) if it landed. Intents whose request never landed are dropped.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import Any

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.write import images
from target_pipedrive.write.kinds import Api, kind_for

CRASH_ENV = "TARGET_PIPEDRIVE_CRASH_AT"  # test hook: "<point>[@<stream>]:<n>" SIGKILLs at the n-th hit
_hits: Counter[str] = Counter()
_SPEC = os.environ.get(CRASH_ENV)  # read once: crash tests set it in the target's environment at start


def crash_point(point: str, stream: str) -> None:
    """Die like `kill -9` at a named step of a write, when a crash test asks for it (no-op otherwise).

    Points: before_request (intent committed, request not sent), after_response (Pipedrive
    has the write, the crosswalk does not), after_commit.
    """
    if not _SPEC:
        return
    target, _, nth = _SPEC.rpartition(":")
    name, _, only_stream = target.partition("@")
    if name != point or (only_stream and only_stream != stream):
        return
    _hits[target] += 1
    if _hits[target] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def recover(crosswalk: Crosswalk, api: Api, run_id: str) -> dict[str, int]:
    """Resolve every open intent; returns counts of adopted, confirmed and dropped intents."""
    outcome = {"adopted": 0, "confirmed": 0, "dropped": 0}
    for intent in crosswalk.open_intents():
        lookup: dict[str, Any] = intent["lookup"] or {}
        kind = kind_for(api, intent["stream"], lookup.get("entity"))
        if intent["op"] == "create":
            found = kind.find_created({**lookup, "started_at": intent["started_at"], "key": intent["source_key"]},
                                      lambda ids, stream=intent["stream"]: crosswalk.claimed_among(stream, ids))
            if found is None:
                crosswalk.drop_intent(intent["id"])
                outcome["dropped"] += 1
                continue
            # the search may return a partial object (v2 lists only the custom fields asked for): the
            # after-image must hold every value written, or rollback would see them as changed since
            full = kind.get(int(found["id"])) or found
            after = images.extract(lookup.get("written") or {}, full)
            after.update(lookup.get("local") or {})
            crosswalk.commit_write(run_id, intent["stream"], intent["source_key"], int(found["id"]), "created",
                                   intent["payload_hash"], intent["before_image"], after, intent["id"])
            outcome["adopted"] += 1
        else:
            current = kind.get(int(intent["pipedrive_id"]))
            patch = lookup.get("written") or {}
            if current is None or images.diff(patch, current):
                crosswalk.drop_intent(intent["id"])  # never landed: the next attempt starts clean
                outcome["dropped"] += 1
                continue
            after = images.extract(patch, current)
            after.update(lookup.get("local") or {})
            crosswalk.commit_write(run_id, intent["stream"], intent["source_key"], int(intent["pipedrive_id"]),
                                   lookup.get("action", "updated"), intent["payload_hash"], intent["before_image"],
                                   after, intent["id"])
            outcome["confirmed"] += 1
    return outcome
