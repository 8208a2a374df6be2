"""Concurrent writers: thousands of records with many in flight - nothing lost, nothing twice, no deadlock.

The target keeps up to `max_writes_in_flight` records in flight. What must still hold: a
record waits for an earlier one with the same key (an update right after its create must not
create a second object), children wait for their person, every STATE is relayed only after
everything before it is committed, and two records that match the same pre-existing person
never both adopt it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pd_helpers import assert_exact_clinic, base_config, clinic, messages, objects, run_target, writes

from target_pipedrive.crosswalk import Crosswalk

IN_FLIGHT = 16


def renamed(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "name": rec["name"] + " Updated"}


@pytest.mark.timeout(420)
def test_thousands_of_records_with_many_writes_in_flight(tmp_path: Path, pipedrive_sandbox: Any,
                                                          crosswalk_url: str) -> None:
    data = clinic(tmp_path / "files", n_persons=300, n_products=20, n_files=10)
    # each person arrives twice, the second time changed, straight after the first: the update must
    # wait for the create in flight (else the crosswalk has no row yet and a second person is created)
    persons = [p for rec in data["persons"] for p in (rec, renamed(rec))]
    streams = {**data, "persons": persons}
    config = base_config(pipedrive_sandbox, tmp_path, crosswalk_url=crosswalk_url, max_writes_in_flight=IN_FLIGHT)
    run = run_target(config, messages(streams, state_every=97), tmp_path, timeout=360)
    assert run.returncode == 0, run.stderr[-3000:]

    assert_exact_clinic(pipedrive_sandbox, data)
    names = Counter(o["name"] for o in objects(pipedrive_sandbox, "person"))
    assert names == Counter(renamed(p)["name"] for p in data["persons"])
    total = sum(len(v) for v in streams.values())
    assert [s["bookmarks"]["n"] for s in run.states] == [*range(97, total + 1, 97), total]
    usage = pipedrive_sandbox.admin("GET", "usage")
    assert usage["max_requests_in_2s"] > 20  # really concurrent: one at a time never gets here on loopback
    crosswalk = Crosswalk(crosswalk_url)
    mappings, open_intents = crosswalk.all_mappings(), crosswalk.open_intents()
    crosswalk.close()
    for stream in ("persons", "products", "activities", "notes", "files"):
        ids = [m["pipedrive_id"] for m in mappings if m["stream"] == stream]
        assert (len(ids), len(set(ids))) == (len(data[stream]), len(data[stream])), stream
    assert open_intents == []

    before = writes(pipedrive_sandbox)
    final = {**data, "persons": [renamed(p) for p in data["persons"]]}
    again = run_target(config, messages(final, state_every=97), tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert writes(pipedrive_sandbox) == before  # a re-run changes nothing


@pytest.mark.timeout(300)
def test_records_racing_for_one_existing_person_adopt_it_once(tmp_path: Path, pipedrive_sandbox: Any,
                                                              crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    existing = sb.request("POST", "/api/v2/persons", json={
        "name": "Sam Twin", "emails": [{"value": "twin@mail.example"}]}).json()["data"]
    data = clinic(tmp_path / "files", n_persons=30, n_products=0, n_files=0)
    for rec in data["persons"]:  # thirty duplicates of one patient in Cliniko, all matching the existing person
        rec.update(name="Sam Twin", emails=[{"value": "twin@mail.example", "label": "home"}])
    streams = {"custom_fields": data["custom_fields"], "persons": data["persons"]}
    config = base_config(pipedrive_sandbox, tmp_path, crosswalk_url=crosswalk_url, max_writes_in_flight=IN_FLIGHT)
    run = run_target(config, messages(streams), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]

    crosswalk = Crosswalk(crosswalk_url)
    ids = [m["pipedrive_id"] for m in crosswalk.all_mappings() if m["stream"] == "persons"]
    crosswalk.close()
    assert len(ids) == 30 and len(set(ids)) == 30  # no Pipedrive person stands for two patients
    assert ids.count(existing["id"]) == 1  # adopted by exactly one of them
    assert len(objects(sb, "person")) == 30


@pytest.mark.timeout(120)
def test_the_crosswalk_under_many_threads_loses_no_update(crosswalk_url: str) -> None:
    """Thousands of intent + commit pairs from 16 threads, half of them on shared keys: every
    commit lands, the last write of each key wins, nothing deadlocks (a hang fails the timeout)."""
    from concurrent.futures import ThreadPoolExecutor

    crosswalk = Crosswalk(crosswalk_url)
    run_id = crosswalk.start_run("apply")

    def work(worker: int) -> None:
        for i in range(60):
            key = f"k{i}" if i % 2 else f"w{worker}-{i}"  # odd: every thread writes the same keys
            intent, _ = crosswalk.begin_intent(run_id, "persons", key, "create", f"h{worker}", {})
            crosswalk.commit_write(run_id, "persons", key, worker * 1000 + i, "created", f"h{worker}", None,
                                   {"worker": worker}, intent)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(16)))
    mappings = {m["source_key"]: m for m in crosswalk.all_mappings()}
    assert len(mappings) == 30 + 16 * 30
    assert all(m["pipedrive_id"] % 1000 == int(key[1:]) for key, m in mappings.items() if key.startswith("k"))
    assert len(crosswalk.changes([run_id])) == 16 * 60
    assert crosswalk.open_intents() == []
    crosswalk.close()


@pytest.mark.parametrize(("interval", "relayed"), [(0, [1, 2, 3]), (3600, [3])])
def test_states_are_relayed_at_most_once_per_interval_and_the_last_always(
        tmp_path: Path, interval: int, relayed: list[int]) -> None:
    from pd_helpers import run_inproc, state

    config = {"api_token": "t", "base_url": "http://127.0.0.1:9", "crosswalk_url": "sqlite://",
              "progress_interval_s": 0, "state_interval_s": interval}
    run = run_inproc(config, [state({"n": n}) for n in (1, 2, 3)])
    assert run.returncode == 0, run.stderr[-2000:]
    assert [s["n"] for s in run.states] == relayed


def test_a_child_waits_for_its_person_in_flight_and_a_worker_error_reaches_the_submitter() -> None:
    """The writes in flight without HTTP (the work stubbed): a child starts only after its person's
    write is done, never more than `max_writes_in_flight` run at once, and a fatal error of a worker
    (a revoked token) is raised in the submitting thread by the next submit or drain."""
    import threading
    import time

    from target_pipedrive.errors import AuthError
    from target_pipedrive.write.concurrency import InFlight
    from target_pipedrive.write.writer import waits_for

    events: list[tuple[str, str]] = []
    running = [0, 0]  # now, most at once
    lock = threading.Lock()

    def process(stream: str, record: dict[str, Any]) -> str:
        with lock:
            running[0] += 1
            running[1] = max(running)
            events.append(("start", record["source_key"]))
        time.sleep(0.15 if record["source_key"] == "p1" else 0.02)
        with lock:
            running[0] -= 1
            events.append(("end", record["source_key"]))
        if record["source_key"] == "boom":
            raise AuthError("Pipedrive rejected the API token (HTTP 401); check api_token and base_url.")
        return "migrated"

    inflight = InFlight(3, process)

    def submit(stream: str, record: dict[str, Any]) -> None:
        inflight.submit(stream, record, waits_for(stream, record))

    submit("persons", {"source_key": "p1"})
    for i in range(6):
        submit("persons", {"source_key": f"other{i}"})
    submit("activities", {"source_key": "a1", "person_source_key": "p1"})
    inflight.drain()
    assert events.index(("start", "a1")) > events.index(("end", "p1"))
    assert running[1] == 3
    submit("persons", {"source_key": "boom"})
    with pytest.raises(AuthError):
        for i in range(20):  # raised by a later submit once the worker has failed, or by the drain
            submit("persons", {"source_key": f"late{i}"})
        inflight.drain()
    inflight.close()
