"""The CLI: `python -m sandbox pipedrive ...` starts, announces READY, serves with the chosen options,
and refuses bad options with a clear message."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
import requests

from sandbox.common import launcher
from sandbox.pipedrive import cli


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_options_shape_the_app():
    app = cli.create_app(parse("--plan", "premium", "--seats", "3", "--api-token", "t0k", "--seed-value", "s"))
    assert app.config.burst_limit == 100 and app.config.daily_budget == 30_000 * 5 * 3
    assert app.api_token == "t0k" and app.account["seed_value"] == "s"
    app = cli.create_app(parse("--no-limits"))
    assert app.config.burst_limit >= 10**6
    app = cli.create_app(parse("--burst-limit", "3", "--daily-budget", "50", "--max-upload-mb", "1"))
    assert (app.config.burst_limit, app.config.daily_budget, app.config.max_upload_bytes) == (3, 50, 1024 * 1024)


@pytest.mark.parametrize("argv", [("--seats", "0"), ("--burst-limit", "-1"), ("--api-token", "")])
def test_bad_options_are_refused(argv):
    with pytest.raises(ValueError):
        cli.create_app(parse(*argv))


def test_unknown_plan_exits_with_usage_error():
    proc = subprocess.run([sys.executable, "-m", "sandbox", "pipedrive", "--plan", "gold"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_process_serves_with_a_persistent_db(tmp_path):
    db = str(tmp_path / "pd.sqlite")
    running = launcher.start("pipedrive", "--db", db, "--plan", "lite", "--api-token", "cli-token",
                             "--seed-value", "cli")
    try:
        headers = {"x-api-token": "cli-token"}
        resp = requests.post(running.url + "/api/v2/persons", json={"name": "From CLI"}, headers=headers, timeout=10)
        assert resp.status_code == 200 and resp.headers["x-ratelimit-limit"] == "20"
        assert requests.get(running.url + "/_admin/health", timeout=10).json()["app"] == "pipedrive"
    finally:
        running.stop()
    running = launcher.start("pipedrive", "--db", db, "--api-token", "cli-token")
    try:
        persons = requests.get(running.url + "/api/v2/persons", headers={"x-api-token": "cli-token"}, timeout=10)
        assert [p["name"] for p in persons.json()["data"]] == ["From CLI"]
    finally:
        running.stop()
