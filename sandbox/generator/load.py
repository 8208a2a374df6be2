"""Stream a generated clinic into a DocStore in batches."""

from __future__ import annotations

from typing import Any

from sandbox.common.store import DocStore
from sandbox.generator import records, setup, sizes
from sandbox.generator.activity import Blob
from sandbox.generator.clinic import rows
from sandbox.generator.context import Context, iso
from sandbox.generator.setup import Clinic

BATCH = 5000


def load(store: DocStore, size: str, seed: int) -> dict[str, Any]:
    """Replace the store's content with the clinic (size, seed); return its summary.

    Size "none" is an empty account: settings and the API key's user, nothing else.
    """
    if size == "none":
        return _load_empty(store, seed)
    ctx = Context(seed, sizes.get(size))
    clinic = Clinic()
    store.clear()
    # Ids are not in insertion order, so primary-key inserts land all over the B-tree:
    # a big page cache keeps a large clinic's load from thrashing the file.
    store.execute("PRAGMA cache_size = -262144")
    batch: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = []
    for item in rows(ctx, clinic):
        if isinstance(item, Blob):
            store.put_blob(item.key, item.data, item.content_type)
            continue
        batch.append(item)
        if len(batch) >= BATCH:
            store.put_many(batch)
            batch.clear()
    store.put_many(batch)
    summary = {"size": size, "seed": seed, "epoch": iso(ctx.epoch), "admin_user_id": str(clinic.admin_user_id)}
    store.set_value("clinic", summary)
    store.set_value("settings", clinic.settings)
    store.set_value("id_counters", ctx.counters)
    store.set_value("edge_cases", ctx.edge_cases)
    return summary


def _load_empty(store: DocStore, seed: int) -> dict[str, Any]:
    ctx = Context(seed, sizes.get("small"))
    store.clear()
    settings = setup.settings(ctx, setup.custom_fields_definition(ctx.rng("custom-fields")))
    uid = ctx.new_id("users")
    now = iso(ctx.epoch)
    store.put("users", uid, records.make(
        "users", id=str(uid), first_name="Alex", last_name="Owner", email="alex.owner@harbourphysio.example",
        role="administrator", active=True, user_active=True, time_zone="Sydney",
        time_zone_identifier="Australia/Sydney",
        phone_numbers=[], created_at=now, updated_at=now), {})
    summary = {"size": "none", "seed": seed, "epoch": now, "admin_user_id": str(uid)}
    store.set_value("clinic", summary)
    store.set_value("settings", settings)
    store.set_value("id_counters", ctx.counters)
    store.set_value("edge_cases", {})
    return summary
