"""The writer: one contract record in, at most the writes it needs out, and an account of each.

Per record: validate against the contract -> skip if its payload hash is unchanged (no API call) ->
hold it if a person it hangs on has not been written -> the rule of its kind writes it (rules.py,
through the write-ahead protocol of protocol.py; existing objects adopted by adopt.py). A failed record
is audited and the run goes on; a StopRun (budget spent, Pipedrive down, a signal) switches the writer to
spooling: every later record is saved in the crosswalk for the next run, so no record is lost to a
limit. Records are written up to `max_writes_in_flight` at once (concurrency.py).

The map stage and the target use it through the public methods below; nothing else reaches inside.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from target_pipedrive.crosswalk import COMPANY_DOMAIN_KEY, COMPANY_KEY, Crosswalk
from target_pipedrive.errors import RecordError, StopRun, TargetError
from target_pipedrive.input import contract
from target_pipedrive.pipedrive.client import PipedriveClient
from target_pipedrive.run.progress import Progress
from target_pipedrive.settings import Settings
from target_pipedrive.write import payloads, summary
from target_pipedrive.write.adopt import Adopter
from target_pipedrive.write.concurrency import InFlight
from target_pipedrive.write.kinds import Api
from target_pipedrive.write.plan import PlanLedger
from target_pipedrive.write.protocol import WriteProtocol
from target_pipedrive.write.recovery import recover
from target_pipedrive.write.resolve import Resolver
from target_pipedrive.write.rules import ManualHandling, Rules

CHILD_STREAMS = ("activities", "notes", "files")
SERIAL_STREAMS = ("custom_fields", "activity_types")  # the schema: later records resolve names against it


def persons_of(stream: str, record: dict[str, Any]) -> list[str]:
    """The persons a record hangs on (its person, an activity's participants)."""
    if stream not in CHILD_STREAMS:
        return []
    return [ref for ref in [record.get("person_source_key"), *(record.get("participant_source_keys") or [])] if ref]


def waits_for(stream: str, record: dict[str, Any]) -> list[tuple[str, str]]:
    """The writes in flight a record must wait for: an earlier one with its key (a rollup update right after
    its create) and those of its persons."""
    return [(stream, str(record.get("source_key"))), *(("persons", ref) for ref in persons_of(stream, record))]


class Writer:
    def __init__(self, settings: Settings, crosswalk: Crosswalk, client: PipedriveClient, progress: Progress,
                 logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.dry_run = settings.dry_run
        self.crosswalk = crosswalk
        self.ledger: Crosswalk | PlanLedger = PlanLedger(crosswalk) if self.dry_run else crosswalk
        self.client = client
        self.api = Api(client, self.dry_run)
        self.progress = progress
        self.log = logger or logging.getLogger("target-pipedrive")
        self.run_id = crosswalk.start_run("plan" if self.dry_run else "apply")
        self.tally = summary.Tally()
        self.failed_refs: set[str] = set()
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []  # see every record (the plan's report)
        protocol = WriteProtocol(self.ledger, self.run_id, client, progress, settings.max_retries, self.log)
        self.rules = Rules(self.api, self.ledger, Resolver(client), protocol, Adopter(self.api, self.ledger, protocol),
                           settings, self.warn)
        self._pending_keys: set[tuple[str, str]] = set()
        self._waiting: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self._started = False
        self._account_checked = False
        progress.waiting = lambda: len(self._pending_keys)
        self._lock = threading.RLock()  # workers share the counters and queues above
        self.inflight = InFlight(1 if self.dry_run else settings.max_writes_in_flight,
                                 lambda stream, record: self.process(stream, record))

    @property
    def stopped(self) -> StopRun | None:
        return self.tally.stopped

    @property
    def requests_sent(self) -> int:
        return self.client.stats.requests

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
            self.tally.recovered = recover(self.crosswalk, self.api, self.run_id)
            self.log.warning("Recovered %d unconfirmed write(s) of an interrupted run: %s", len(open_intents),
                             ", ".join(f"{k} {v}" for k, v in self.tally.recovered.items()))
        except StopRun as exc:
            self.stop(exc)

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
        """process() with up to `max_writes_in_flight` records in flight; schema records alone, after everything
        before them (later records resolve names against them)."""
        if not self._account_checked:  # here, not in a worker: before the first record, once
            self._account_checked = True
            try:
                self._check_account()
            except StopRun as exc:
                self.stop(exc)
        self.start()  # recovery too comes before any write
        if not self.inflight.concurrent or stream in SERIAL_STREAMS or self.stopped is not None:
            if stream in SERIAL_STREAMS:
                self.drain()
            done: Future[str] = Future()
            done.set_result(self.process(stream, record))
            return done
        return self.inflight.submit(stream, record, waits_for(stream, record))

    def drain(self) -> None:
        """Wait for every write in flight (before a STATE is relayed, and at the end)."""
        self.inflight.drain()

    def close(self) -> None:
        self.inflight.close()

    def interrupt(self, grace_s: float) -> bool:
        """A signal: no write starts any more; those in flight get `grace_s` to end (their waits and retries
        stop at once). True when none is left running. One still running when the process ends is safe: its
        intent is in the crosswalk and the next run recovers it."""
        self.client.stop()
        return self.inflight.abandon(grace_s)

    def process(self, stream: str, record: dict[str, Any]) -> str:
        """Handle one contract record; never raises for problems of the record itself.

        Returns the outcome (migrated, unchanged, skipped, failed, held or deferred), so the map stage can
        account for the source record behind it.
        """
        for observe in self.observers:
            observe(stream, record)
        self.start()
        key = record.get("source_key")
        if not isinstance(key, str) or not key:
            self.fail(stream, "<missing source_key>", RecordError("invalid_record", "source_key: missing or empty"))
            return "failed"
        if self.stopped is not None:
            self._park(stream, key, record, "deferred")
            return "deferred"
        problems = contract.validate(stream, record)
        if problems:
            self.fail(stream, key, RecordError("invalid_record", "; ".join(problems)))
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
        try:
            self.rules.write(stream, record, row, digest, parents)
        except ManualHandling as exc:
            self.audit(stream, key, "skipped", exc.code, exc.message)
            with self._lock:
                self.tally.manual[exc.code] += 1
            self._settled(stream, key)
            self.progress.count(stream, "manual")
            return "skipped"
        except RecordError as exc:
            self.fail(stream, key, exc)
            return "failed"
        except StopRun as exc:
            self.stop(exc)
            self._park(stream, key, record, "deferred")
            return "deferred"
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
                if (row["stream"], row["source_key"]) not in self._pending_keys:
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
            self.audit(row["stream"], row["source_key"], "held", code,
                       f"waiting for {row['waiting_for']}, which has not been written")
        for row in deferred:
            self.audit(row["stream"], row["source_key"], "deferred", row["reason"],
                       "saved in the crosswalk when the run stopped early; the next run sends it first")
        if isinstance(self.ledger, PlanLedger):
            for entry in self.ledger.planned:
                self.crosswalk.audit(self.run_id, entry["stream"], entry["source_key"], "planned", entry["action"],
                                     "would write " + (", ".join(entry["fields"]) or "nothing new"), entry["action"])
        self.client.budget.flush()
        result = summary.build(self.tally, self.progress.counts, self.client, self.api, self.dry_run, len(held),
                               len(deferred))
        failed = self.tally.failures or held
        status = "stopped" if self.stopped else ("failed" if failed else "ok")
        self.crosswalk.finish_run(self.run_id, status, result)
        if not quiet or held or deferred or self.tally.failures or self.stopped is not None:
            self.progress.maybe_print(force=True)
            summary.print_summary(self.progress.out, self.run_id, result, self.tally, self.dry_run, len(held),
                                  len(deferred))
        if self.stopped is not None:
            return StopRun.exit_code
        return 1 if failed else 0

    # -- what the map stage tells the writer ------------------------------------------------------------
    def fail(self, stream: str, key: str, exc: RecordError) -> None:
        """A record failed (the writer's own rules, or the map's): audited, counted, logged without values."""
        self.audit(stream, key, "failed", exc.code, exc.message)
        with self._lock:
            self.tally.failures[exc.code] += 1
            self.failed_refs.add(f"{stream}:{key}")
        self.log.warning("Record failed: stream=%s source_key=%s code=%s: %s", stream, key, exc.code, exc.message)
        self._settled(stream, key)
        self.progress.count(stream, "failed")

    def audit(self, stream: str, key: str, status: str, code: str, message: str) -> None:
        self.ledger.audit(self.run_id, stream, key, status, code, message)

    def warn(self, stream: str, key: str, code: str, message: str) -> None:
        self.audit(stream, key, "warning", code, message)
        with self._lock:
            self.tally.warnings[code] += 1

    def written(self, stream: str, key: str) -> bool:
        return self.ledger.get(stream, key) is not None

    def report_sources(self, counts: dict[str, dict[str, int]]) -> None:
        """Per source stream, what became of its records this run (the summary's reconciliation line)."""
        self.tally.sources = counts

    def say(self, text: str) -> None:
        print(f"[target-pipedrive] {text}", file=self.progress.out, flush=True)

    def stop(self, exc: StopRun) -> None:
        with self._lock:
            if self.tally.stopped is not None:
                return
            self.tally.stopped = exc
        self.log.warning("Stopping API work for this run: %s", exc)

    # -- record bookkeeping -----------------------------------------------------------------------
    def _settled(self, stream: str, key: str) -> None:
        with self._lock:
            if (stream, key) not in self._pending_keys:
                return
            self._pending_keys.discard((stream, key))
        self.ledger.discard_pending(stream, key)

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

    def _missing_parent(self, stream: str, record: dict[str, Any]) -> tuple[str | None, dict[str, dict[str, Any]]]:
        """The first person not written yet, and the crosswalk rows of those that are (kept for the write)."""
        parents: dict[str, dict[str, Any]] = {}
        for ref in persons_of(stream, record):
            if ref not in parents:
                row = self.ledger.get("persons", ref)
                if row is None:
                    return f"persons:{ref}", parents
                parents[ref] = row
        return None, parents
