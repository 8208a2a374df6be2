"""The upsert engine: one contract record in, at most the writes it needs out.

Per record: validate against the contract -> skip if its payload hash is unchanged (no
API call) -> hold it if a parent has not arrived -> build the body (labels resolved) ->
update the mapped object, adopt a matching existing one, or create -> commit. Writes use
the write-ahead protocol of recovery.py. A failed record is audited and the run goes on;
a StopRun (budget spent, Pipedrive down) switches the engine to spooling: every later
record is saved in the crosswalk for the next run, so no record is lost to a limit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from target_pipedrive import contract, images, payloads
from target_pipedrive.client import PipedriveClient
from target_pipedrive.crosswalk import Crosswalk, now_iso
from target_pipedrive.errors import (
    BudgetExhausted,
    MaybeWritten,
    RecordError,
    ServiceUnavailable,
    StopRun,
    TargetError,
)
from target_pipedrive.kinds import Api, FieldKind, Kind, kind_for
from target_pipedrive.matching import ExistingIndex, by_external_id, person_by_email, product_by_code
from target_pipedrive.plan import PlanLedger
from target_pipedrive.progress import Progress
from target_pipedrive.recovery import crash_point, recover
from target_pipedrive.resolve import TEXT_TYPES, FieldDef, Resolver
from target_pipedrive.settings import Settings
from target_pipedrive.sources import reconcile_line

CHILD_STREAMS = ("activities", "notes", "files")
SERIAL_STREAMS = ("custom_fields", "activity_types")  # the schema: later records resolve names against it
COMPANY_KEY = "pipedrive_company_id"  # kv: the company this crosswalk's ids belong to
COMPANY_DOMAIN_KEY = "pipedrive_company_domain"  # kv: its web address (<domain>.pipedrive.com), for the reports
LONG_AGO = "2000-01-01T00:00:00.000000Z"  # "since" for adopting children of pre-existing persons
PLANNED_KEY = "planned-field-"  # key prefix of fields that exist only in a plan
MANUAL_FILE = "the file '{name}'"  # how a file to attach by hand is named in its audit message (labels.py reads it)


def _depends_on(stream: str, record: dict[str, Any]) -> list[tuple[str, str]]:
    """The (stream, key)s that must be written before this record: itself earlier, its persons."""
    keys = [(stream, str(record.get("source_key")))]
    if stream in CHILD_STREAMS:
        refs = [record.get("person_source_key"), *(record.get("participant_source_keys") or [])]
        keys += [("persons", str(ref)) for ref in refs if ref]
    return keys


class ManualHandling(RecordError):
    """The record cannot go through the API at all and needs a person (audited as skipped, not failed)."""


class Writer:
    def __init__(self, settings: Settings, crosswalk: Crosswalk, client: PipedriveClient, progress: Progress,
                 logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.dry_run = settings.dry_run
        self.crosswalk = crosswalk
        self.ledger: Crosswalk | PlanLedger = PlanLedger(crosswalk) if self.dry_run else crosswalk
        self.client = client
        self.api = Api(client, self.dry_run)
        self.resolver = Resolver(client)
        self.progress = progress
        self.log = logger or logging.getLogger("target-pipedrive")
        self.run_id = crosswalk.start_run("plan" if self.dry_run else "apply")
        self.stopped: StopRun | None = None
        self.failures: Counter[str] = Counter()
        self.manual: Counter[str] = Counter()  # skipped, for a person to do by hand (e.g. files over the limit)
        self.source_counts: dict[str, dict[str, int]] | None = None  # per Cliniko stream, set by the map stage
        self.warnings: Counter[str] = Counter()
        self.failed_refs: set[str] = set()
        self.recovered: dict[str, int] = {}
        self._indexes: dict[str, ExistingIndex] = {}
        self._pending_keys: set[tuple[str, str]] = set()
        self._waiting: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self._started = False
        self._account_checked = False
        progress.waiting = lambda: len(self._pending_keys)
        # concurrency: workers share the counters and queues above (_lock); looking up an existing
        # object and claiming it is one step (_adopt_lock), or two records could adopt the same one
        self._lock = threading.RLock()
        self._adopt_lock = threading.RLock()
        self.max_in_flight = 1 if self.dry_run else max(1, settings.max_writes_in_flight)
        self._pool = (ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="pipedrive-write")
                      if self.max_in_flight > 1 else None)
        self._inflight: dict[tuple[str, str], Future[str]] = {}  # touched by the submitting thread only
        self._slots = threading.Semaphore(self.max_in_flight)
        self._worker_errors: list[BaseException] = []
        self._record = threading.local()  # per thread: the parents' crosswalk rows of the record being written

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the pending queue and recover writes a crash left open (before any new write)."""
        if self._started:
            return
        self._started = True
        for row in self.ledger.pending_rows():
            self._pending_keys.add((row["stream"], row["source_key"]))
            if row["waiting_for"]:
                self._waiting[row["waiting_for"]].add((row["stream"], row["source_key"]))
        open_intents = self.crosswalk.open_intents()
        if not open_intents:
            return
        if self.dry_run:
            self.log.warning("%d write(s) of a crashed run are unconfirmed; the next apply run recovers them",
                             len(open_intents))
            return
        try:
            self.recovered = recover(self.crosswalk, self.api, self.run_id)
            self.log.warning("Recovered %d unconfirmed write(s) of an interrupted run: %s", len(open_intents),
                             ", ".join(f"{k} {v}" for k, v in self.recovered.items()))
        except StopRun as exc:
            self._stop(exc)

    def _check_account(self) -> None:
        """A crosswalk belongs to one Pipedrive company: used against another, every record would look
        unchanged and nothing would be written."""
        me = self.client.get("v1", "/users/me").get("data") or {}
        company = me.get("company_id")
        if company is None:
            return
        known = self.crosswalk.get_value(COMPANY_KEY)
        if known is None:
            if not self.dry_run:
                self.crosswalk.put_value(COMPANY_KEY, company)
        elif str(known) != str(company):
            raise TargetError(f"crosswalk_url holds the migration into another Pipedrive company (id {known}; this "
                              f"api_token's company is {company}), and a crosswalk serves one company (under Meltano "
                              "each environment has its own, output/<environment>/crosswalk.sqlite): point "
                              "crosswalk_url at this migration's crosswalk, or at a new file to start one.")
        domain = me.get("company_domain")
        if domain and not self.dry_run and self.crosswalk.get_value(COMPANY_DOMAIN_KEY) != domain:
            self.crosswalk.put_value(COMPANY_DOMAIN_KEY, domain)  # the reports link to the company's web pages

    def submit(self, stream: str, record: dict[str, Any]) -> Future[str]:
        """process() with up to `max_writes_in_flight` records in flight.

        Order holds where it matters: a record waits for an earlier one with the same key (a
        rollup update after the create) and for the persons it hangs on; schema records are
        written alone, after everything before them.
        """
        if not self._account_checked:  # here, not in a worker: before the first record, once
            self._account_checked = True
            try:
                self._check_account()
            except StopRun as exc:
                self._stop(exc)
        self.start()  # recovery too comes before any write
        if self._pool is None or stream in SERIAL_STREAMS or self.stopped is not None:
            if stream in SERIAL_STREAMS:
                self.drain()
            done: Future[str] = Future()
            done.set_result(self.process(stream, record))
            return done
        for dep in _depends_on(stream, record):
            if (waiting := self._inflight.get(dep)) is not None:
                waiting.exception()  # blocks until it is done; its error is raised below
        self._slots.acquire()  # released by the worker: a free slot, without scanning the futures
        self._raise_worker_error()
        future = self._pool.submit(self._run, stream, record)
        self._inflight[(stream, str(record.get("source_key")))] = future
        if len(self._inflight) > 4 * self.max_in_flight:
            self._inflight = {k: f for k, f in self._inflight.items() if not f.done()}
        return future

    def _run(self, stream: str, record: dict[str, Any]) -> str:
        try:
            return self.process(stream, record)
        except BaseException as exc:  # a fatal error (e.g. a revoked token): the submitting thread raises it
            self._worker_errors.append(exc)
            raise
        finally:
            self._slots.release()

    def _raise_worker_error(self) -> None:
        if self._worker_errors:
            raise self._worker_errors[0]

    def drain(self) -> None:
        """Wait for every write in flight (before a STATE is relayed, and at the end)."""
        if self._inflight:
            wait(list(self._inflight.values()))
            self._inflight = {}
        self._raise_worker_error()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def interrupt(self, grace_s: float) -> bool:
        """A signal: no write starts any more; those in flight get `grace_s` to end (their waits and retries
        stop at once). True when none is left running. One still running when the process ends is safe: its
        intent is in the crosswalk and the next run recovers it."""
        self.client.stop()
        running = [f for f in self._inflight.values() if not f.done()]
        _, left = wait(running, timeout=grace_s) if running else (set(), set())
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        return not left

    def process(self, stream: str, record: dict[str, Any]) -> str:
        """Handle one contract record; never raises for problems of the record itself.

        Returns the outcome (migrated, unchanged, skipped, failed, held or deferred), so the map
        stage can account for the Cliniko record behind it.
        """
        self.start()
        key = record.get("source_key")
        if not isinstance(key, str) or not key:
            self._fail(stream, "<missing source_key>", RecordError("invalid_record", "source_key: missing or empty"))
            return "failed"
        if self.stopped is not None:
            self._park(stream, key, record, "deferred")
            return "deferred"
        problems = contract.validate(stream, record)
        if problems:
            self._fail(stream, key, RecordError("invalid_record", "; ".join(problems)))
            return "failed"
        digest = payloads.payload_hash(stream, record)
        row = self.ledger.get(stream, key)
        if row is not None and row["payload_hash"] == digest:
            self._settled(stream, key)
            self.progress.count(stream, "unchanged")
            return "unchanged"
        missing, parents = self._missing_parent(stream, record)
        if missing is not None:
            self._park(stream, key, record, "parent_missing", waiting_for=missing)
            return "held"
        self._record.parents = parents
        try:
            self._write(stream, record, row, digest)
        except ManualHandling as exc:
            self.ledger.audit(self.run_id, stream, key, "skipped", exc.code, exc.message)
            with self._lock:
                self.manual[exc.code] += 1
            self._settled(stream, key)
            self.progress.count(stream, "manual")
            return "skipped"
        except RecordError as exc:
            self._fail(stream, key, exc)
            return "failed"
        except StopRun as exc:
            self._stop(exc)
            self._park(stream, key, record, "deferred")
            return "deferred"
        finally:
            self._record.parents = {}
        with self._lock:
            self._pending_keys.discard((stream, key))
        if stream == "persons":
            self._release(f"persons:{key}")
        return "migrated"

    def finish(self, quiet: bool = False) -> int:
        """Retry what waits in the crosswalk, report what is still held, and return the exit code.

        `quiet`: the input held no message at all (the tap stopped before its first one and said why
        itself), so nothing is printed below its sentence."""
        self.start()
        self.drain()
        if self.stopped is None:
            for row in self.ledger.pending_rows():
                if self.stopped is not None:
                    break
                ident = (row["stream"], row["source_key"])
                if ident not in self._pending_keys:
                    continue  # handled already (released by its parent, or superseded by input)
                ref = row["waiting_for"]
                if ref and self.ledger.get("persons", ref.split(":", 1)[1]) is None:
                    continue
                self.process(row["stream"], row["record"])
        rows = self.ledger.pending_rows()
        held = [r for r in rows if r["reason"] == "parent_missing"]
        deferred = [r for r in rows if r["reason"] != "parent_missing"]
        for row in held:
            code = "parent_failed" if row["waiting_for"] in self.failed_refs else "parent_missing"
            self.ledger.audit(self.run_id, row["stream"], row["source_key"], "held", code,
                              f"waiting for {row['waiting_for']}, which has not been written")
        for row in deferred:
            self.ledger.audit(self.run_id, row["stream"], row["source_key"], "deferred", row["reason"],
                              "saved in the crosswalk when the run stopped early; the next run sends it first")
        if isinstance(self.ledger, PlanLedger):
            for entry in self.ledger.planned:
                self.crosswalk.audit(self.run_id, entry["stream"], entry["source_key"], "planned", entry["action"],
                                     "would write " + (", ".join(entry["fields"]) or "nothing new"), entry["action"])
        self.client.budget.flush()
        summary = self._summary(len(held), len(deferred))
        status = "stopped" if self.stopped else ("failed" if self.failures or held else "ok")
        self.crosswalk.finish_run(self.run_id, status, summary)
        if not quiet or held or deferred or self.failures or self.stopped is not None:
            self._print_summary(summary, held, deferred)
        if self.stopped is not None:
            return StopRun.exit_code
        return 1 if self.failures or held else 0

    # -- record bookkeeping -----------------------------------------------------------------------
    def _settled(self, stream: str, key: str) -> None:
        with self._lock:
            if (stream, key) not in self._pending_keys:
                return
            self._pending_keys.discard((stream, key))
        self.ledger.discard_pending(stream, key)

    def _fail(self, stream: str, key: str, exc: RecordError) -> None:
        self.ledger.audit(self.run_id, stream, key, "failed", exc.code, exc.message)
        with self._lock:
            self.failures[exc.code] += 1
            self.failed_refs.add(f"{stream}:{key}")
        self.log.warning("Record failed: stream=%s source_key=%s code=%s: %s", stream, key, exc.code, exc.message)
        self._settled(stream, key)
        self.progress.count(stream, "failed")

    def _warn(self, stream: str, key: str, code: str, message: str) -> None:
        self.ledger.audit(self.run_id, stream, key, "warning", code, message)
        with self._lock:
            self.warnings[code] += 1

    def _park(self, stream: str, key: str, record: dict[str, Any], reason: str, waiting_for: str | None = None) -> None:
        self.ledger.hold(self.run_id, stream, key, record, reason, waiting_for)
        with self._lock:
            self._pending_keys.add((stream, key))
            if waiting_for:
                self._waiting[waiting_for].add((stream, key))
        self.progress.count(stream, "held" if waiting_for else "deferred")

    def _release(self, ref: str) -> None:
        """The person `ref` is written: its held children follow (in this thread, after its commit)."""
        with self._lock:
            if self._waiting.pop(ref, None) is None:
                return
        for row in self.ledger.pending_rows(waiting_for=ref):
            self.process(row["stream"], row["record"])

    def _stop(self, exc: StopRun) -> None:
        with self._lock:
            if self.stopped is not None:
                return
            self.stopped = exc
        self.log.warning("Stopping API work for this run: %s", exc)

    def _missing_parent(self, stream: str, record: dict[str, Any]) -> tuple[str | None, dict[str, dict[str, Any]]]:
        """The first person not written yet, and the crosswalk rows of those that are (kept for the write)."""
        parents: dict[str, dict[str, Any]] = {}
        if stream not in CHILD_STREAMS:
            return None, parents
        refs = [record.get("person_source_key"), *(record.get("participant_source_keys") or [])]
        for ref in refs:
            if ref and ref not in parents:
                row = self.ledger.get("persons", ref)
                if row is None:
                    return f"persons:{ref}", parents
                parents[ref] = row
        return None, parents

    def _parent_row(self, ref: str) -> dict[str, Any] | None:
        """A person's crosswalk row, as read for the record being written (one read per person and record)."""
        row = getattr(self._record, "parents", {}).get(ref)
        return row if row is not None else self.ledger.get("persons", ref)

    def _parent_id(self, ref: str) -> int:
        row = self._parent_row(ref)
        assert row is not None  # checked by _missing_parent
        return int(row["pipedrive_id"])

    # -- dispatch -----------------------------------------------------------------------------------
    def _write(self, stream: str, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        handler = {"persons": self._person, "products": self._product, "activities": self._activity,
                   "notes": self._note, "files": self._file, "activity_types": self._activity_type,
                   "custom_fields": self._custom_field}[stream]
        handler(record, row, digest)

    def _person(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "persons")
        custom, ext_key, ext_value = self._custom_with_external_id("person", record)
        body = payloads.person_body(record, custom_fields=custom, owner_id=self._owner("persons", record),
                                    create=row is None)
        if row is not None:
            self._update(kind, record["source_key"], int(row["pipedrive_id"]), body, digest, "updated")
            return
        def find(index: ExistingIndex) -> dict[str, Any] | None:
            claimed = self._claimed("persons", index.ext(ext_value) + [
                o for e in record.get("emails") or [] for o in index.email(str(e["value"]))])
            existing = by_external_id(index, ext_value, claimed, "person")
            if existing is None:
                existing, warning = person_by_email(index, record, claimed)
                if warning:
                    self._warn("persons", record["source_key"], "email_shared", warning)
            return existing

        self._adopt_or_create(kind, record, find, body, digest, ext_key, ext_value)

    def _adopt_or_create(self, kind: Kind, record: dict[str, Any],
                         find: Callable[[ExistingIndex], dict[str, Any] | None], body: dict[str, Any], digest: str,
                         ext_key: Any, ext_value: Any) -> None:
        """Update the matched existing object, or create one (persons and products alike).

        Finding and claiming an existing object happen under one lock: two records matching the
        same pre-existing person must not both adopt it.
        """
        with self._adopt_lock:
            index = self._index(kind.stream, ext_key)
            existing = find(index)
            if existing is not None:
                self._update(kind, record["source_key"], int(existing["id"]), body, digest, "matched")
                return
        created = self._create(kind, record["source_key"], body, digest,
                               {"ext_key": ext_key, "ext_id": ext_value}, written=body)
        with self._adopt_lock:
            index.add(created)

    def _product(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "products")
        custom, ext_key, ext_value = self._custom_with_external_id("product", record)
        body = payloads.product_body(record, custom_fields=custom, owner_id=self._owner("products", record))
        if row is not None:
            self._update(kind, record["source_key"], int(row["pipedrive_id"]), body, digest, "updated")
            return
        def find(index: ExistingIndex) -> dict[str, Any] | None:
            code_hits = index.code(str(record["code"])) if record.get("code") else []
            claimed = self._claimed("products", index.ext(ext_value) + code_hits)
            return by_external_id(index, ext_value, claimed, "product") or product_by_code(index, record, claimed)

        self._adopt_or_create(kind, record, find, body, digest, ext_key, ext_value)

    def _activity(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "activities")
        type_key = None
        if record.get("type"):
            found = self.resolver.find_activity_type(str(record["type"]))
            if found is None:
                raise RecordError("unknown_activity_type", f"no active activity type is named '{record['type']}'")
            type_key = str(found["key_string"])
        participants: list[int] = []
        for ref in [record.get("person_source_key"), *(record.get("participant_source_keys") or [])]:
            if ref and (pid := self._parent_id(ref)) not in participants:
                participants.append(pid)
        body = payloads.activity_body(record, type_key=type_key, owner_id=self._owner("activities", record),
                                      participant_ids=participants)
        lookup = {"person_id": participants[0] if participants else None}
        self._child(kind, record, row, digest, body, lookup, body)

    def _note(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "notes")
        person_id = self._parent_id(record["person_source_key"])
        user_id = self._owner("notes", record) if record.get("owner_email") else None
        body = payloads.note_body(record, person_id=person_id, user_id=user_id)
        self._child(kind, record, row, digest, body, {"person_id": person_id}, body)

    def _child(self, kind: Kind, record: dict[str, Any], row: dict[str, Any] | None, digest: str,
               body: dict[str, Any], lookup: dict[str, Any], written: dict[str, Any]) -> None:
        key = record["source_key"]
        if row is not None:
            self._update(kind, key, int(row["pipedrive_id"]), body, digest, "updated")
            return
        with self._adopt_lock:
            existing = self._adopt_under_matched_parent(kind, record, lookup)
            if existing is not None:
                self._update(kind, key, int(existing["id"]), body, digest, "matched")
                return
        self._create(kind, key, body, digest, lookup, written=written)

    def _adopt_under_matched_parent(self, kind: Kind, record: dict[str, Any],
                                    lookup: dict[str, Any]) -> dict[str, Any] | None:
        """A child of a person that existed before the migration may be there from a lost crosswalk."""
        parent = self._parent_row(record.get("person_source_key") or "")
        if parent is None or parent["action"] != "matched" or not lookup.get("person_id"):
            return None
        return kind.find_created({**lookup, "started_at": LONG_AGO, "key": record["source_key"]},
                                 lambda ids: self.ledger.claimed_among(kind.stream, ids))

    def _file(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "files")
        key = record["source_key"]
        person_id = self._parent_id(record["person_source_key"])
        local = {"_sha256": record.get("sha256"), "_person_id": person_id}  # reports link the file to its person
        if row is not None:
            last = self.ledger.last_after_image("files", key) or {}
            if last.get("_sha256") == record.get("sha256"):
                self._update(kind, key, int(row["pipedrive_id"]), {"name": record["file_name"]}, digest, "updated",
                             local)
                return
            # Pipedrive cannot replace a file's bytes: the old version goes first, then the new one is
            # uploaded. A crash in between leaves the row pointing at a deleted file, which the next
            # run (the hash still differs) deletes again (404 is fine) and uploads: never two versions.
            content = self._read_file(record)
            kind.delete(int(row["pipedrive_id"]))
            self._create(kind, key, {"person_id": person_id, "file_name": record["file_name"], "content": content},
                         digest, {"person_id": person_id, "file_name": record["file_name"], "size": len(content)},
                         written={"name": record["file_name"]}, local=local,
                         before={"_replaces_file_id": int(row["pipedrive_id"])})
            return
        content = self._read_file(record)
        lookup = {"person_id": person_id, "file_name": record["file_name"], "size": len(content)}
        existing = self._adopt_under_matched_parent(kind, record, lookup)
        if existing is not None:
            self._update(kind, key, int(existing["id"]), {"name": record["file_name"]}, digest, "matched", local)
            return
        self._create(kind, key, {"person_id": person_id, "file_name": record["file_name"], "content": content},
                     digest, lookup, written={"name": record["file_name"]}, local=local)

    def _read_file(self, record: dict[str, Any]) -> bytes:
        """The file's bytes, checked. A plan that described the file from its metadata (no download: the map's
        `{context: planning}`) gets as many placeholder bytes as the metadata says, for the same checks."""
        if not record.get("local_path"):
            if not self.dry_run:
                raise RecordError("file_missing", "the record has no local_path (the file was not downloaded)")
            size = int(record.get("size") or 0)
            self._check_size(record, size)
            return bytes(min(size, 1))  # the plan sends nothing: its cost is per request, not per byte
        path = str(record["local_path"])
        if not os.path.isfile(path):
            raise RecordError("file_missing", "the staged file does not exist at local_path (a record saved by another "
                                              "machine's run? its attachments_dir and map_output_dir must be "
                                              "shared at the same path; or read it again: --full-refresh)")
        self._check_size(record, os.path.getsize(path))
        with open(path, "rb") as handle:
            content = handle.read()
        if hashlib.sha256(content).hexdigest() != record.get("sha256"):
            raise RecordError("checksum_mismatch", "the staged file's sha256 differs from the record's")
        return content

    def _check_size(self, record: dict[str, Any], size: int) -> None:
        if size > self.settings.max_file_size_bytes:
            limit_mb = self.settings.max_file_size_bytes / 1024 / 1024
            raise ManualHandling("file_too_large", f"{size / 1024 / 1024:.1f} MB is over Pipedrive's {limit_mb:g} MB "
                                                   "upload limit (max_file_size_mb): needs manual handling - attach "
                                                   f"{MANUAL_FILE.format(name=record['file_name'])} to "
                                                   f"{record['person_source_key']} by hand")

    def _activity_type(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "activity_types")
        key = record["source_key"]
        body = payloads.activity_type_body(record)
        existing = self.resolver.find_activity_type(record["name"], by_key=False)
        if existing is None:
            created = self._create(kind, key, body, digest, {"name": record["name"]}, written=body)
            if self.dry_run:
                self.resolver.add_planned_type({**created, "key_string": f"planned-{record['name']}"})
            else:
                self.resolver.remember_activity_type(created)
            return
        if row is None:  # a type the clinic already had: adopt it as it is, never restyle it
            self._update(kind, key, int(existing["id"]), {}, digest, "matched", current=existing)
            return
        self._update(kind, key, int(existing["id"]), {k: v for k, v in body.items() if k != "name"}, digest,
                     "updated", current=existing)

    def _custom_field(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        entity = record["entity"]
        kind = FieldKind(self.api, entity)
        key = record["source_key"]
        local = {"_entity": entity}
        existing = self.resolver.find_field(entity, record["label"])
        if existing is None:
            created = self._create(kind, key, payloads.field_body(record), digest,
                                   {"name": record["label"], "entity": entity},
                                   written={"name": record["label"], "field_type": record["field_type"]},
                                   local=local)
            if self.dry_run:
                self._plan_field(entity, record, created)
            else:
                self.resolver.remember_field(entity, created)
            return
        if existing.field_type != record["field_type"]:
            raise RecordError("field_type_conflict", f"{entity} custom field '{record['label']}' exists with type "
                                                     f"{existing.field_type}, not {record['field_type']}")
        action = "updated" if row is not None else "matched"
        missing = [label for label in record.get("options") or [] if existing.option_id(label) is None]
        current = {"options": [{"id": i, "label": label} for label, i in existing.options.items()]}
        body = payloads.field_options_body(current["options"], missing) if missing else {}
        changed = self._update(kind, key, existing.id, body, digest, action, local, current=current)
        if changed and not self.dry_run:
            self.resolver.remember_field(entity, changed)

    def _plan_field(self, entity: str, record: dict[str, Any], created: dict[str, Any]) -> None:
        self.resolver.add_planned_field(entity, FieldDef(
            id=int(created["id"]), key=f"{PLANNED_KEY}{abs(int(created['id']))}", name=record["label"],
            field_type=record["field_type"], is_custom=True,
            options={label: -(n + 1) for n, label in enumerate(record.get("options") or [])}))

    # -- resolution helpers -------------------------------------------------------------------------
    def _custom_with_external_id(self, entity: str, record: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
        ext = self._external_id_field(entity)
        values = dict(record.get("custom_fields") or {})
        given = next((values.pop(label) for label in list(values) if label.casefold() == ext.name.casefold()), None)
        ext_value = str(given) if given not in (None, "") else str(record["source_key"])
        custom = self.resolver.custom_fields(entity, values)
        custom[ext.key] = ext_value
        return custom, ext.key, ext_value

    def _external_id_field(self, entity: str) -> FieldDef:
        with self._adopt_lock:  # created once, even when the first persons are written concurrently
            return self._external_id_field_unlocked(entity)

    def _external_id_field_unlocked(self, entity: str) -> FieldDef:
        label = self.settings.external_id_field
        found = self.resolver.find_field(entity, label)
        if found is None:
            definition = {"source_key": f"target-pipedrive:external-id:{entity}", "entity": entity, "label": label,
                          "field_type": "varchar"}
            self._custom_field(definition, self.ledger.get("custom_fields", definition["source_key"]),
                               payloads.payload_hash("custom_fields", definition))
            found = self.resolver.find_field(entity, label)
        if found is None or found.field_type not in TEXT_TYPES:
            raise RecordError("bad_external_id_field", f"the {entity} field '{label}' must be a text field")
        return found

    def _owner(self, stream: str, record: dict[str, Any]) -> int | None:
        email = record.get("owner_email")
        if email:
            user = self.resolver.user_id(str(email))
            if user is not None:
                return user
        fallback = self.settings.fallback_user_email
        if fallback:
            user = self.resolver.user_id(fallback)
            if user is None:
                self._warn(stream, record["source_key"], "fallback_user_unknown",
                           "fallback_user_email matches no active Pipedrive user; the API token's user owns it")
                return None
            if email:
                self._warn(stream, record["source_key"], "owner_fallback",
                           "owner_email matches no active Pipedrive user; fallback_user_email owns it")
            return user
        if email:
            self._warn(stream, record["source_key"], "owner_unknown",
                       "owner_email matches no active Pipedrive user; the API token's user owns it")
        return None

    def _index(self, stream: str, ext_key: str) -> ExistingIndex:
        """Built once, under _adopt_lock."""
        if stream not in self._indexes:
            real_key = None if ext_key.startswith(PLANNED_KEY) else ext_key  # a field only the plan would create
            self._indexes[stream] = ExistingIndex(self.api, "/" + stream, real_key)
        return self._indexes[stream]

    def _claimed(self, stream: str, candidates: list[dict[str, Any]]) -> set[int]:
        return self.ledger.claimed_among(stream, [int(o["id"]) for o in candidates])

    # -- the write protocol ---------------------------------------------------------------------------
    def _create(self, kind: Kind, key: str, body: dict[str, Any], digest: str, lookup: dict[str, Any], *,
                written: dict[str, Any], local: dict[str, Any] | None = None,
                before: dict[str, Any] | None = None) -> dict[str, Any]:
        written = {k: v for k, v in written.items() if k not in images.CREATE_ONLY}
        started_at = now_iso()
        full_lookup = {**lookup, "written": written, "local": local or {}}
        if isinstance(kind, FieldKind):
            full_lookup["entity"] = (local or {}).get("_entity")
        intent, _ = self.ledger.begin_intent(self.run_id, kind.stream, key, "create", digest, full_lookup, before)
        crash_point("before_request", kind.stream)
        obj = self._send_create(kind, key, body, intent, {**full_lookup, "started_at": started_at, "key": key})
        crash_point("after_response", kind.stream)
        after = {**images.extract(written, {**written, **obj}), **(local or {})}
        if isinstance(kind, FieldKind) and obj.get("key"):
            after["key"] = obj["key"]
        self.ledger.commit_write(self.run_id, kind.stream, key, int(obj["id"]), "created", digest, before, after,
                                 intent)
        crash_point("after_commit", kind.stream)
        self.progress.count(kind.stream, "created")
        return obj

    def _send_create(self, kind: Kind, key: str, body: dict[str, Any], intent: int,
                     lookup: dict[str, Any]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return kind.create(body)
            except (RecordError, BudgetExhausted):
                self.ledger.drop_intent(intent)  # refused or never sent: nothing was created
                raise
            except MaybeWritten as exc:
                attempt += 1
                self.log.warning("A create of %s %s may have reached Pipedrive (%s); looking for it before "
                                 "retrying", kind.label, key, exc)
                found = kind.find_created(lookup, lambda ids: self.ledger.claimed_among(kind.stream, ids))
                if found is not None:
                    return found
                if attempt > self.settings.max_retries:
                    raise ServiceUnavailable(f"Pipedrive kept failing creates ({exc})") from None
                self.client.pause(min(30.0, 0.25 * 2 ** attempt))

    def _update(self, kind: Kind, key: str, pid: int, body: dict[str, Any], digest: str, action: str,
                local: dict[str, Any] | None = None, current: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Write only the fields that differ; returns Pipedrive's answer, or None when nothing changed."""
        if current is None:
            # pid < 0: created earlier in this plan, as its last after-image says
            current = (self.ledger.last_after_image(kind.stream, key) or body) if pid < 0 else kind.get(pid)
        if current is None:
            raise RecordError("deleted_in_pipedrive", f"{kind.label} {pid} no longer exists in Pipedrive; roll back "
                                                      "its run (or remove its crosswalk row) to create it again")
        patch = images.diff(body, current)
        if not patch:
            if action == "matched" or local:
                after = {**images.extract(body, current), **(local or {})}
                self.ledger.commit_write(self.run_id, kind.stream, key, pid, action, digest, None, after)
            else:
                self.ledger.touch(self.run_id, kind.stream, key, digest)
            self.progress.count(kind.stream, "matched" if action == "matched" else "unchanged")
            return None
        before = images.extract(patch, current)
        lookup = {"written": patch, "action": action, "local": local or {}, "entity": (local or {}).get("_entity")}
        intent, before = self.ledger.begin_intent(self.run_id, kind.stream, key, "update", digest, lookup, before,
                                                  pid)
        crash_point("before_request", kind.stream)
        try:
            obj = kind.update(pid, patch)
        except (RecordError, BudgetExhausted):
            self.ledger.drop_intent(intent)
            raise
        crash_point("after_response", kind.stream)
        after = {**images.extract(patch, {**current, **patch, **obj}), **(local or {})}
        self.ledger.commit_write(self.run_id, kind.stream, key, pid, action, digest, before, after, intent)
        crash_point("after_commit", kind.stream)
        self.progress.count(kind.stream, action)
        return obj

    # -- summary ----------------------------------------------------------------------------------------
    def _summary(self, held: int, deferred: int) -> dict[str, Any]:
        budget = self.client.budget
        summary: dict[str, Any] = {
            "mode": "plan" if self.dry_run else "apply",
            "streams": {name: {k: v for k, v in c.items() if v} for name, c in self.progress.counts.items()},
            "failed": dict(self.failures), "manual": dict(self.manual), "warnings": dict(self.warnings),
            "held": held, "deferred": deferred, "sources": self.source_counts,
            "requests": self.client.stats.requests, "tokens": budget.spent_this_run,
            "rate_limited": self.client.stats.rate_limited, "retries": self.client.stats.retries,
            "recovered": self.recovered,
        }
        if self.dry_run:
            summary["planned_writes"] = self.api.planned_writes
            summary["planned_write_tokens"] = self.api.planned_tokens
            per_second = max(1, self.client.pacer.limit) / 2.0
            summary["estimated_seconds"] = round(self.api.planned_writes / per_second, 1)
            summary["daily_budget"] = budget.daily_limit
        if self.stopped is not None:
            summary["stopped"] = str(self.stopped)
            retry = getattr(self.stopped, "retry_after_s", None)
            if retry:
                summary["resume_after_s"] = int(retry)
        return summary

    def _print_summary(self, summary: dict[str, Any], held: list[dict[str, Any]],
                       deferred: list[dict[str, Any]]) -> None:
        self.progress.maybe_print(force=True)
        out = self.progress.out
        head = "PLAN (nothing was written to Pipedrive)" if self.dry_run else "Run"
        print(f"[target-pipedrive] {head} {self.run_id}:", file=out)
        for name, counts in sorted(summary["streams"].items()):
            print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), file=out)
        if self.dry_run:
            print(f"  would send {summary['planned_writes']} write requests costing ~{summary['planned_write_tokens']}"
                  f" tokens (reads for this plan: {summary['tokens']} tokens); ~{summary['estimated_seconds']} s at "
                  f"the burst limit; daily budget {summary['daily_budget']} tokens", file=out)
        if self.failures:
            print(f"  FAILED {sum(self.failures.values())} record(s): "
                  + ", ".join(f"{code} {n}" for code, n in self.failures.most_common())
                  + " (details: target-pipedrive-admin report)", file=out)
        if self.source_counts is not None:
            print(f"  {reconcile_line(self.source_counts)}", file=out)
        if self.manual:
            print(f"  NEEDS MANUAL HANDLING {sum(self.manual.values())} record(s): "
                  + ", ".join(f"{code} {n}" for code, n in self.manual.most_common())
                  + " (skipped, listed in target-pipedrive-admin report)", file=out)
        if held:
            print(f"  HELD {len(held)} record(s) whose parent person has not been written; they are kept and sent "
                  "when it arrives", file=out)
        if self.stopped is not None:
            when = ""
            retry = getattr(self.stopped, "retry_after_s", None)
            if retry:
                when = f"; resume in about {int(retry // 60)} min ({int(retry)} s)"
            print(f"  STOPPED EARLY: {self.stopped}. {len(deferred)} record(s) are saved in the crosswalk and will be "
                  f"sent by the next run{when}.", file=out)
        out.flush()
