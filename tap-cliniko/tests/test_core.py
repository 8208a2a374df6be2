"""singer-sdk's standard tap tests, against a Cliniko sandbox started for this module."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandbox.common.launcher import start
from tap_cliniko.tap import TapCliniko

# The SDK builds the test class at import time, so the sandbox must exist before pytest
# collects it: a separate process, stopped when the interpreter exits.
_SANDBOX = start("cliniko", "--seed", "small", "--rate-limit-per-minute", "0")
atexit.register(_SANDBOX.stop)

SAMPLE_CONFIG = {
    "api_key": "sandbox-cliniko-key-au1",
    "user_agent": "tap-cliniko tests (tests@example.com)",
    "base_url": f"{_SANDBOX.url}/v1",
    "max_requests_per_minute": 0,
}

TestTapCliniko = get_tap_test_class(
    tap_class=TapCliniko,
    config=SAMPLE_CONFIG,
    suite_config=SuiteConfig(max_records_limit=40),
    parse_env_config=False,
)
