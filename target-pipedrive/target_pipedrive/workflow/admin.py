"""`target-pipedrive-admin`: the commands around a migration — verify, rollback, report, runs.

Settings come from `--config FILE` (repeatable) and from `TARGET_PIPEDRIVE_<SETTING>`
environment variables, which is how `meltano invoke target-pipedrive:<command>` passes
them. Every failure ends with one sentence on stderr and a non-zero exit code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from target_pipedrive.crosswalk import COMPANY_DOMAIN_KEY, WRITE_KINDS, Crosswalk
from target_pipedrive.entry import private_files
from target_pipedrive.errors import RecordError, StopRun, TargetError
from target_pipedrive.input.mapping import STATE_KEY as MAP_STATE_KEY
from target_pipedrive.pipedrive.client import PipedriveClient
from target_pipedrive.run.bookmarks import RELAYED_KEYS
from target_pipedrive.settings import CONFIG_SCHEMA, DEFAULT_MAP_OUTPUT_DIR, Settings
from target_pipedrive.workflow import completeness as completeness_mod
from target_pipedrive.workflow import confirm as confirm_mod
from target_pipedrive.workflow import planreport as planreport_mod
from target_pipedrive.workflow import report as report_mod
from target_pipedrive.workflow import rollback as rollback_mod
from target_pipedrive.workflow import setup as setup_mod
from target_pipedrive.workflow import verify as verify_mod
from target_pipedrive.workflow.labels import web_root
from target_pipedrive.write.kinds import Api

ENV_PREFIX = "TARGET_PIPEDRIVE_"


def load_config(files: tuple[str, ...]) -> dict[str, Any]:
    """Environment variables first, then the files in order (later wins)."""
    config: dict[str, Any] = {}
    for name, spec in CONFIG_SCHEMA["properties"].items():
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        types = spec.get("type", [])
        types = types if isinstance(types, list) else [types]
        if "boolean" in types:
            config[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        elif "integer" in types:
            config[name] = int(raw)
        elif "number" in types:
            config[name] = float(raw)
        else:
            config[name] = raw
    for path in files:
        try:
            config.update(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"cannot read config file {path}: {exc}") from None
    return config


def _settings(ctx: click.Context) -> Settings:
    try:
        return Settings.from_config(ctx.obj["config"])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _crosswalk(ctx: click.Context, settings: Settings) -> Crosswalk:
    """The crosswalk, closed when the command ends however it ends (a Postgres connection left to the
    garbage collector is never closed properly, and psycopg warns about it)."""
    try:
        crosswalk = Crosswalk(settings.crosswalk_url)
    except TargetError as exc:
        click.echo(f"target-pipedrive-admin: {exc}", err=True)
        sys.exit(exc.exit_code)
    ctx.call_on_close(crosswalk.close)
    return crosswalk


def _api(settings: Settings, crosswalk: Crosswalk) -> Api:
    client = PipedriveClient.from_settings(settings, crosswalk.tokens_spent, crosswalk.save_tokens)
    return Api(client, dry_run=False)


@click.group()
@click.option("--config", "config_files", multiple=True, type=click.Path(dir_okay=False),
              help="JSON config file (repeatable); TARGET_PIPEDRIVE_* environment variables are read too.")
@click.pass_context
def main(ctx: click.Context, config_files: tuple[str, ...]) -> None:
    """Verify, rollback and audit commands of target-pipedrive."""
    private_files()  # reports, diffs and plans show patient data
    ctx.ensure_object(dict)
    ctx.obj["config"] = load_config(config_files)


@main.command()
@click.option("--run", "run_ids", multiple=True, help="Run id to undo (repeatable); see the `runs` command.")
@click.option("--all", "all_runs", is_flag=True, help="Undo every run recorded in the crosswalk.")
@click.option("--force", is_flag=True, help="Also undo records changed in Pipedrive after the migration.")
@click.option("--schema", is_flag=True,
              help="With --run: also remove the custom fields and activity types the run(s) created (--all always "
                   "does: it undoes the whole migration, setup included).")
@click.option("--yes", is_flag=True, help="Confirm: without it the command only prints what it would do.")
@click.pass_context
def rollback(ctx: click.Context, run_ids: tuple[str, ...], all_runs: bool, force: bool, schema: bool,
             yes: bool) -> None:
    """Delete what the run(s) created and restore what they updated, children first."""
    settings = _settings(ctx)
    crosswalk = _crosswalk(ctx, settings)
    recorded = crosswalk.runs()
    known = {r["run_id"] for r in recorded}
    unknown = [r for r in run_ids if r not in known]
    if bool(run_ids) == all_runs or unknown:
        for run in recorded:  # the choices, with what each run was and did
            if run["kind"] in WRITE_KINDS:
                click.echo(describe_run(run), err=True)
        problem = f"unknown run id(s): {', '.join(unknown)}; " if unknown else ""
        raise click.UsageError(f"{problem}give either --run RUN_ID (repeatable; the runs that wrote are listed "
                               "above) or --all")
    with_schema = schema or all_runs
    steps = rollback_mod.plan(crosswalk, list(run_ids) if run_ids else None, with_schema)
    click.echo(f"Rollback of {'all runs' if all_runs else ', '.join(run_ids)}: {rollback_mod.summarize(steps)}")
    if not with_schema:
        kept = len(rollback_mod.plan(crosswalk, list(run_ids), True)) - len(steps)
        if kept:
            click.echo(f"  keeps {kept} custom field/activity type change(s) of these runs (add --schema to undo "
                       "them too)")
    for step in steps:
        click.echo(f"  will {step.describe()}")
    if not steps:
        return
    api = _api(settings, crosswalk)
    requests, tokens = rollback_mod.price(api.client, steps)
    click.echo(f"Estimated cost: {requests} Pipedrive requests, {tokens} tokens (objects unchanged since the "
               "migration; a refused step costs only its read).")
    if not yes:
        click.echo("Nothing was changed. Re-run with --yes to do this.")
        return
    rollback_run = crosswalk.start_run("rollback")
    forget_migrated(crosswalk, rollback_run, list(run_ids) if run_ids else None)
    try:
        outcome = rollback_mod.execute(crosswalk, api, steps, rollback_run, force=force,
                                       echo=click.echo)
    except StopRun as exc:
        crosswalk.finish_run(rollback_run, "stopped", {"stopped": str(exc)})
        click.echo(f"Rollback stopped early: {exc}. Run the same command again later to finish it.", err=True)
        sys.exit(StopRun.exit_code)
    except TargetError as exc:
        crosswalk.finish_run(rollback_run, "failed", {"error": str(exc)})
        click.echo(f"target-pipedrive-admin: {exc}", err=True)
        sys.exit(exc.exit_code)
    crosswalk.finish_run(rollback_run, "ok" if not outcome["refused"] else "partial", dict(outcome))
    click.echo(f"Rollback {rollback_run}: {outcome['done']} step(s) done, {outcome['refused']} refused.")
    click.echo("The pipelines' bookmarks still cover what was undone: to migrate it again, read Cliniko from the "
               "start once with `meltano run --full-refresh tap-cliniko target-pipedrive` (without Meltano: run "
               "tap-cliniko without --state); a plain run refuses until then.")
    if outcome["refused"]:
        click.echo("Some records were changed in Pipedrive after the migration and were left alone; re-run with "
                   "--force to undo them anyway.", err=True)
        sys.exit(1)


def forget_migrated(crosswalk: Crosswalk, rollback_run: str, run_ids: list[str] | None) -> None:
    """Before undoing anything: what the crosswalk knows about the source side stops vouching for it.

    A new epoch makes every bookmark saved so far stale (bookmarks.py): the next run must read
    Cliniko from the start. The map's memory goes too (that full read rebuilds it, and a rollup
    it remembers as written would not be sent again), as do the source records the runs settled.
    Done first, so an interrupted rollback leaves the same guard.
    """
    crosswalk.new_epoch(f"the rollback {rollback_run} of {', '.join(run_ids) if run_ids else 'every run'}")
    crosswalk.forget_memory()
    crosswalk.drop_value(MAP_STATE_KEY)
    for name in RELAYED_KEYS:
        crosswalk.drop_value(name)
    crosswalk.forget_sources(run_ids)


@main.command()
@click.option("--run", "run_id", help="Only what this run did (default: the current state of every record).")
@click.option("--out-dir", type=click.Path(file_okay=False), default="output/report", show_default=True)
@click.pass_context
def report(ctx: click.Context, run_id: str | None, out_dir: str) -> None:
    """Write the audit log (audit.csv + audit.json): every source record, its Pipedrive id, or its failure."""
    settings = _settings(ctx)
    crosswalk = _crosswalk(ctx, settings)
    web = web_root(settings.base_url, crosswalk.get_value(COMPANY_DOMAIN_KEY))
    document = report_mod.write(crosswalk, Path(out_dir), run_id, web)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(document["counts"].items())) or "no records"
    click.echo(f"Wrote {out_dir}/audit.csv and audit.json: {counts}")


@main.command()
@click.option("--run", "run_id", help="Only the records this run wrote (default: every migrated record).")
@click.option("--out-dir", type=click.Path(file_okay=False), default="output/verify", show_default=True)
@click.option("--skip-cliniko", is_flag=True,
              help="Do not check against Cliniko that every record is accounted for (compare Pipedrive only).")
@click.pass_context
def verify(ctx: click.Context, run_id: str | None, out_dir: str, skip_cliniko: bool) -> None:
    """Read every migrated record back from Pipedrive and write a field-level diff (CSV, JSON, HTML); check
    against Cliniko that every record there is migrated, skipped with a reason or failed."""
    settings = _settings(ctx)
    crosswalk = _crosswalk(ctx, settings)
    if run_id is not None and run_id not in {r["run_id"] for r in crosswalk.runs()}:
        raise click.UsageError(f"unknown run id: {run_id} (see the `runs` command)")
    access = None
    if run_id is None and not skip_cliniko and crosswalk.source_counts():  # Cliniko records were migrated
        access = completeness_mod.cliniko_config(ctx.obj["config"])
        if access is None:
            click.echo("target-pipedrive-admin: verify also checks that every Cliniko record arrived, so it needs "
                       "read access to Cliniko: set cliniko_api_key and cliniko_user_agent (or TAP_CLINIKO_API_KEY "
                       "and TAP_CLINIKO_USER_AGENT), or add --skip-cliniko to compare Pipedrive only.", err=True)
            sys.exit(2)
    api = Api(_api(settings, crosswalk).client, dry_run=True)  # verify only reads: writes are refused
    gaps: list[completeness_mod.Gap] = []
    try:
        census = completeness_mod.TapCensus(access) if access is not None else None
        rows, summary = verify_mod.run(crosswalk, api, run_id)
        if census is not None:
            gaps, per_stream = completeness_mod.check(
                completeness_mod.received_by_stream(crosswalk.source_rows()), census,
                crosswalk.get_value(RELAYED_KEYS[0]))
            summary["completeness"] = verify_mod.completeness_summary(gaps, per_stream, census.requests)
    except StopRun as exc:
        click.echo(f"Verify stopped early: {exc}. Run it again later.", err=True)
        sys.exit(StopRun.exit_code)
    except TargetError as exc:
        click.echo(f"target-pipedrive-admin: {exc}", err=True)
        sys.exit(exc.exit_code)
    except RecordError as exc:  # Pipedrive refused a read (e.g. a token without access to an object type)
        click.echo(f"target-pipedrive-admin: Pipedrive refused a read while verifying: {exc.message}", err=True)
        sys.exit(2)
    finally:
        api.client.budget.flush()
    verify_mod.write(rows, summary, Path(out_dir), run_id, gaps)
    files = f"{out_dir}/diff.csv, diff.json and diff.html"
    differences = summary["differences"]
    found = summary.get("completeness") or {}
    problems = found.get("problems", 0)
    not_yet = sum(found.get("verdicts", {}).get(v, 0) for v in (completeness_mod.NOT_YET, "deferred"))
    later = f"; {not_yet} Cliniko record(s) changed since the last run or wait for the next one" if not_yet else ""
    if differences or problems:
        where = ", ".join(f"{stream} {s['with_differences'] + s['object_missing']}"
                          for stream, s in summary["by_object_type"].items()
                          if s["with_differences"] or s["object_missing"])
        missing = ", ".join(f"{v} {n}" for v, n in found.get("verdicts", {}).items()
                            if v in completeness_mod.PROBLEMS and n)
        parts = ([f"{differences} difference(s) between Pipedrive and the migration in {summary['objects']} objects "
                  f"({where})"] if differences else []) + (
            [f"{problems} Cliniko record(s) that are not in Pipedrive and should be ({missing})"] if problems else [])
        click.echo(f"Verify found {' and '.join(parts)}{later}; see {files}.", err=True)
        sys.exit(1)
    accounted = (f", and every one of the {found['in_cliniko']} Cliniko records is accounted for{later}"
                 if found.get("checked") else "")
    if not summary["objects"]:
        click.echo(f"Verify: the crosswalk holds no migrated record{f' of run {run_id}' if run_id else ''}"
                   f"{accounted}; wrote {files}.")
        return
    click.echo(f"Verify: {summary['objects']} objects and {summary['fields_compared']} fields match what the "
               f"migration wrote{accounted}; wrote {files}.")


@main.command()
@click.pass_context
def runs(ctx: click.Context) -> None:
    """List the runs recorded in the crosswalk: plan, setup, sample, migration, delta, rollback."""
    settings = _settings(ctx)
    for run in _crosswalk(ctx, settings).runs():
        click.echo(describe_run(run))


def describe_run(run: dict[str, Any]) -> str:
    """One line: id, kind, status, when, and what it did (from its summary)."""
    summary = run.get("summary") or {}
    done = []
    writes = sum(n for counts in (summary.get("streams") or {}).values()
                 for outcome, n in counts.items() if outcome in ("created", "updated", "matched"))
    if run["kind"] == "rollback":
        done.append(f"{summary.get('done', 0)} step(s) undone, {summary.get('refused', 0)} refused")
    elif run["kind"] == "plan":
        done.append(f"would write {summary.get('planned_writes', 0)}")
    elif summary:
        done.append(f"{writes} Pipedrive object(s) written")
    received = sum(sum(c.values()) for c in (summary.get("sources") or {}).values())
    if received:
        done.append(f"{received} Cliniko record(s) received")
    failed = sum((summary.get("failed") or {}).values())
    if failed:
        done.append(f"{failed} failed")
    if summary.get("stopped") or summary.get("interrupted") or summary.get("error"):
        done.append(str(summary.get("stopped") or summary.get("interrupted") or summary.get("error")))
    return (f"{run['run_id']}  {run['kind']:<9} {run['status']:<11} started {run['started_at']}  finished "
            f"{run['finished_at'] or '-'}" + (f"  ({'; '.join(done)})" if done else ""))


@main.command("confirm-map")
@click.option("--from", "source", default=None,
              help="The map you reviewed in the plan (default: the packaged map of cliniko_map).")
@click.option("--out", default=None, help="Where to write the confirmed map (default: the `map` setting).")
@click.pass_context
def confirm_map(ctx: click.Context, source: str | None, out: str | None) -> None:
    """Confirm a map after reviewing its plan: writes it with confirmation.confirmed true and its hash."""
    out = out or ctx.obj["config"].get("map")
    if not out:
        raise click.UsageError("set the `map` setting (or --out) to where the confirmed map should be written")
    try:
        digest = confirm_mod.confirm(source, out, ctx.obj["config"].get("map_output_dir") or DEFAULT_MAP_OUTPUT_DIR)
    except TargetError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Confirmed {source or 'the packaged map'} (hash {digest}) -> {out}; "
               "target-pipedrive now applies it (editing any rule un-confirms it).")


@main.command()
@click.option("--out-dir", type=click.Path(file_okay=False), default="output/plan", show_default=True)
@click.pass_context
def plan(ctx: click.Context, out_dir: str) -> None:
    """Write plan.json and plan.html again from the latest plan run (Pipedrive as it is now)."""
    settings = _settings(ctx)
    crosswalk = _crosswalk(ctx, settings)
    client = _api(settings, crosswalk).client  # reads only: fields, users, activity types
    try:
        document = planreport_mod.build(crosswalk, client, settings)
    except StopRun as exc:
        click.echo(f"Plan report stopped early: {exc}. Run it again later.", err=True)
        sys.exit(StopRun.exit_code)
    except TargetError as exc:
        click.echo(f"target-pipedrive-admin: {exc}", err=True)
        sys.exit(exc.exit_code)
    except RecordError as exc:
        click.echo(f"target-pipedrive-admin: Pipedrive refused a read while planning: {exc.message}", err=True)
        sys.exit(2)
    finally:
        client.budget.flush()
    planreport_mod.write(document, Path(out_dir))
    click.echo(planreport_mod.summary_line(document, Path(out_dir)))


@main.command()
@click.pass_context
def setup(ctx: click.Context) -> None:
    """Create the confirmed map's custom fields, options and activity types (as the latest plan listed them)."""
    settings = _settings(ctx)
    crosswalk = _crosswalk(ctx, settings)
    try:
        code, counts = setup_mod.run(settings, crosswalk, sys.stderr)
    except TargetError as exc:
        click.echo(f"target-pipedrive-admin: {exc}", err=True)
        sys.exit(exc.exit_code)
    if code:
        click.echo("Setup did not finish: see the lines above (target-pipedrive-admin report lists each failure).",
                   err=True)
        sys.exit(code)
    click.echo(setup_mod.summary(counts))


if __name__ == "__main__":
    main()
