"""The tap's schemas carry everything it emits: a full read of the standard clinic logs no
schema warning on any stream (the SDK warns, and drops the field, when a record holds a property
its schema lacks, as practitioners' partition key `status` once did), and every record's fields
are in its stream's schema. About 20 s on a 2-core machine: ~4 s to generate the clinic, ~15 s to
read its 61,000 records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tap_helpers import tap_config

from sandbox.cliniko.testing import ClinikoSandbox, start
from tap_cliniko.streams import SYNC_ORDER


@pytest.fixture(scope="module")
def standard_clinic() -> Iterator[ClinikoSandbox]:
    handle = start(size="standard")
    yield handle
    handle.stop()


def test_a_standard_clinic_read_logs_no_schema_warning(tmp_path: Path, standard_clinic: ClinikoSandbox) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(standard_clinic)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_CLINIKO_")}
    stderr = tmp_path / "stderr.log"
    schemas: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    beyond: dict[str, set[str]] = {}
    statuses: set[str | None] = set()
    with stderr.open("w") as err, subprocess.Popen([sys.executable, "-m", "tap_cliniko", "--config", str(config)],
                                                  stdout=subprocess.PIPE, stderr=err, text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # read as it comes: the whole output is ~100 MB
            message = json.loads(line)
            stream = message.get("stream")
            if message["type"] == "SCHEMA":
                schemas[stream] = set(message["schema"]["properties"])
            elif message["type"] == "RECORD":
                counts[stream] = counts.get(stream, 0) + 1
                extra = message["record"].keys() - schemas[stream]
                if extra:
                    beyond.setdefault(stream, set()).update(extra)
                if stream == "practitioners":
                    statuses.add(message["record"].get("status"))
    assert proc.returncode == 0, stderr.read_text()[-2000:]
    log = stderr.read_text().splitlines()
    warnings = [line for line in log if "WARNING" in line and "schema" in line.lower()]
    assert warnings == []
    assert beyond == {}
    assert set(counts) == set(SYNC_ORDER) and sum(counts.values()) > 60_000
    assert statuses == {"active", "inactive"}
