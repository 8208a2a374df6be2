"""Bad configuration: one clear sentence each, a non-zero exit, and nothing written.

Each case runs the real program (tap-cliniko, or target-pipedrive fed the real tap's
output) with one setting wrong. "Nothing written": the tap emits no record, and Pipedrive
receives no write. Independent cases run side by side (each target case has its own
Pipedrive sandbox) to keep the suite fast.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pd_helpers import run_target
from reliability_helpers import audit, confirmed_map, live, pipedrive_writes, run_pipeline, tap_config, target_config
from tap_helpers import run_tap

Config = dict[str, Any]


def sentence(stderr: str, program: str) -> str:
    """The operator's message: the last non-log line, or the SDK's config-validation errors."""
    assert "Traceback" not in stderr, stderr[-3000:]
    mine = [line for line in stderr.splitlines() if line.startswith(f"{program}: ")]
    if mine:
        assert len(mine) == 1, mine
        return mine[0]
    errors = [line.split("| ", 3)[-1] for line in stderr.splitlines() if "| ERROR" in line]
    assert errors, stderr[-2000:]
    return " ".join(errors)


def without(config: Config, key: str) -> Config:
    return {k: v for k, v in config.items() if k != key}


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can write in (root included: `chattr +i` where mode bits do not stop root)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    locked = False
    if _writable(folder):
        locked = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False).returncode == 0
    if _writable(folder):
        pytest.skip("cannot make a read-only folder as this user (root without chattr +i)")
    yield folder
    if locked:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
    folder.chmod(0o700)


def _writable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_text("x")
    except OSError:
        return False
    probe.unlink()
    return True


# -- tap-cliniko ------------------------------------------------------------------------------------------------
TAP_CASES: dict[str, tuple[Callable[[Config, Path], Config], str]] = {
    "missing api_key": (lambda c, _: without(c, "api_key"), "'api_key' is a required property"),
    "wrong api_key": (lambda c, _: {**c, "api_key": "not-a-key-au1"}, "rejected the API key"),
    "unreachable host": (lambda c, _: {**c, "base_url": "http://127.0.0.1:9/v1"}, "Cannot reach Cliniko"),
    "plain http off this machine": (lambda c, _: {**c, "base_url": "http://api.au1.cliniko.com/v1"},
                                    "must use https"),
    "attachments_dir is a file": (lambda c, tmp: {**c, "attachments_dir": str(tmp / "a-file.txt")},
                                  "attachments_dir cannot be used"),
}


def test_tap_refuses_bad_settings_with_one_sentence_and_emits_nothing(tmp_path: Path, cliniko_sandbox: Any) -> None:
    (tmp_path / "a-file.txt").write_text("not a folder")
    base = tap_config(cliniko_sandbox)

    def attempt(name: str) -> tuple[str, Any]:
        change, _ = TAP_CASES[name]
        return name, run_tap(tmp_path / name.replace(" ", "-"), change(base, tmp_path), timeout=60)

    with ThreadPoolExecutor(len(TAP_CASES)) as pool:
        runs = dict(pool.map(attempt, TAP_CASES))
    for name, (_, expected) in TAP_CASES.items():
        run = runs[name]
        assert run.returncode != 0, name
        assert expected in sentence(run.stderr, "tap-cliniko"), (name, run.stderr[-1500:])
        assert '"type":"RECORD"' not in run.stdout.replace(" ", ""), f"{name}: the tap emitted records"
        assert cliniko_sandbox.api_key not in run.stderr


def test_read_only_attachments_dir_is_refused_before_any_record(tmp_path: Path, cliniko_sandbox: Any,
                                                                 read_only: Path) -> None:
    run = run_tap(tmp_path / "run", tap_config(cliniko_sandbox, attachments_dir=str(read_only)))
    assert run.returncode != 0
    assert "attachments_dir" in sentence(run.stderr, "tap-cliniko")
    assert '"type":"RECORD"' not in run.stdout.replace(" ", "")


# -- target-pipedrive ----------------------------------------------------------------------------------------------
@pytest.fixture
def tap_output(tmp_path: Path, empty_clinic: Any) -> str:
    """What the real tap emits for a clinic with two patients: the target's input in every case."""
    for first in ("Ana", "Ben"):
        empty_clinic.admin("POST", "/_admin/records/patients", {"first_name": first, "last_name": "Config"})
    run = run_tap(tmp_path / "tap", tap_config(empty_clinic))
    assert run.returncode == 0 and run.records.get("patients"), run.stderr[-2000:]
    return run.stdout


def _garbage_file(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(b"this is not a database\n" * 50)
    return path


def _other_database(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE stock (sku TEXT, quantity INTEGER)")
    return path


TARGET_CASES: dict[str, tuple[Callable[[Config, Path], Config], str]] = {
    "missing api_token": (lambda c, _: without(c, "api_token"), "api_token"),
    "wrong api_token": (lambda c, _: {**c, "api_token": "0" * 40}, "rejected the API token"),
    "plain http off this machine": (lambda c, _: {**c, "base_url": "http://acme.pipedrive.com"}, "must use https"),
    "corrupt map": (lambda c, tmp: {**c, "map": str(tmp / "corrupt.yaml")}, "corrupt.yaml:3: YAML syntax"),
    "missing map": (lambda c, tmp: {**c, "map": str(tmp / "nowhere.yaml")}, "does not exist"),
    "unconfirmed map": (lambda c, tmp: {**c, "map": str(tmp / "unconfirmed.yaml")}, "is not confirmed"),
    "crosswalk is not a database": (lambda c, tmp: {**c, "crosswalk_url": f"sqlite:///{_garbage_file(tmp)}"},
                                    "not a SQLite database"),
    "crosswalk is another program's database": (
        lambda c, tmp: {**c, "crosswalk_url": f"sqlite:///{_other_database(tmp)}"}, "database of something else"),
    "crosswalk URL of no database type": (lambda c, _: {**c, "crosswalk_url": "nosuchdb://host/x"},
                                          "SQLAlchemy database URL"),
    "crosswalk database without its driver": (lambda c, _: {**c, "crosswalk_url": "mssql+pymssql://u:p@127.0.0.1:9/x"},
                                              "needs the Python driver pymssql"),
}


def test_target_refuses_bad_settings_with_one_sentence_and_writes_nothing(
        tmp_path: Path, tap_output: str, pipedrive_sandbox_factory: Any) -> None:
    (tmp_path / "corrupt.yaml").write_text("version: 1\nstreams: [unclosed\n")
    map_path = confirmed_map(tmp_path)
    (tmp_path / "unconfirmed.yaml").write_text(map_path.read_text().replace("confirmed: true", "confirmed: false"))
    sandboxes = {name: pipedrive_sandbox_factory() for name in TARGET_CASES}

    def attempt(name: str) -> tuple[str, Any]:
        change, _ = TARGET_CASES[name]
        folder = tmp_path / name.replace(" ", "-").replace("'", "")
        folder.mkdir()
        config = change(target_config(sandboxes[name], folder, map_path), tmp_path)
        return name, run_target(config, tap_output, folder, timeout=60)

    with ThreadPoolExecutor(len(TARGET_CASES)) as pool:
        runs = dict(pool.map(attempt, TARGET_CASES))
    for name, (_, expected) in TARGET_CASES.items():
        run = runs[name]
        assert run.returncode != 0, (name, run.stderr[-1500:])
        assert expected in sentence(run.stderr, "target-pipedrive"), (name, run.stderr[-1500:])
        assert pipedrive_writes(sandboxes[name]) == {}, name
        assert not run.states, f"{name}: STATE was relayed although nothing was written"
        assert sandboxes[name].api_token not in run.stderr
    with sqlite3.connect(tmp_path / "inventory.sqlite") as conn:  # the other program's database is untouched
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["stock"]


@pytest.mark.parametrize("setting", ["map_output_dir", "crosswalk_url"])
def test_read_only_output_folder_is_refused_before_any_write(tmp_path: Path, empty_clinic: Any,
                                                             pipedrive_sandbox: Any, read_only: Path,
                                                             setting: str) -> None:
    empty_clinic.admin("POST", "/_admin/records/patients", {"first_name": "Ro", "last_name": "Folder"})
    value = str(read_only / "map") if setting == "map_output_dir" else f"sqlite:///{read_only}/crosswalk.sqlite"
    target = target_config(pipedrive_sandbox, tmp_path, **{setting: value})
    run = run_pipeline(tmp_path, tap_config(empty_clinic), target)
    assert run.target_code != 0
    assert "read-only" in sentence(run.target_stderr, "target-pipedrive"), run.target_stderr[-2000:]
    assert pipedrive_writes(pipedrive_sandbox) == {}
    assert list(read_only.iterdir()) == []


def test_unreachable_pipedrive_stops_at_once_with_one_sentence(tmp_path: Path, tap_output: str) -> None:
    """A Pipedrive never reached this run is a setting to fix (base_url), said at once: exit 2, no retries, and
    nothing is recorded as written, so the next run with the right base_url sends every record."""
    nowhere = type("Nowhere", (), {"api_token": "t" * 40, "base_url": "http://127.0.0.1:9"})()
    target = target_config(nowhere, tmp_path)
    run = run_target(target, tap_output, tmp_path, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "Cannot reach Pipedrive at http://127.0.0.1:9" in sentence(run.stderr, "target-pipedrive")
    assert "Retrying" not in run.stderr and "t" * 40 not in run.stderr
    rows = audit(target, tmp_path)
    assert not [key for key, r in rows.items() if r["status"] == "migrated"], rows


def test_a_crosswalk_of_another_pipedrive_account_is_refused(tmp_path: Path, tap_output: str,
                                                             pipedrive_sandbox_factory: Any) -> None:
    first, other = pipedrive_sandbox_factory(), pipedrive_sandbox_factory(seed_value="another-company")
    config = target_config(first, tmp_path)
    assert run_target(config, tap_output, tmp_path, timeout=60).returncode == 0
    assert live(first, "person")
    run = run_target({**config, "base_url": other.base_url, "api_token": other.api_token}, tap_output, tmp_path,
                     timeout=60)
    assert run.returncode != 0, "the other account's crosswalk was used as if it were this account's"
    assert "crosswalk" in sentence(run.stderr, "target-pipedrive")
    assert pipedrive_writes(other) == {}
