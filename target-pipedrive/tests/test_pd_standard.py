"""The singer-sdk standard target tests that apply to a fixed-contract API target.

As MeltanoLabs/target-postgres does: a custom suite instead of the default one, because
most default tests feed arbitrary stream names that this target rightly refuses. The SDK's
own fixtures run with `ignore_unknown_streams` so the SDK-level checks (record before
schema, missing key property, invalid schema) are exercised; our own .singer fixtures
repeat them on contract streams and cover the unknown-stream refusal and STATE relay.
None of these needs Pipedrive: every case ends before the first API call.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from singer_sdk.exceptions import MissingKeyPropertiesError, RecordsWithoutSchemaException
from singer_sdk.testing import SuiteConfig, get_target_test_class
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetCliPrintsTest,
    TargetInvalidSchemaTest,
    TargetRecordBeforeSchemaTest,
    TargetRecordMissingKeyProperty,
)
from singer_sdk.testing.templates import TargetFileTestTemplate

from target_pipedrive.errors import ContractError
from target_pipedrive.run.bookmarks import STAMP
from target_pipedrive.target import TargetPipedrive

DATA = Path(__file__).parent / "data"
CONFIG = {"api_token": "test-token", "base_url": "http://127.0.0.1:9", "crosswalk_url": "sqlite://",
          "ignore_unknown_streams": True, "progress_interval_s": 0, "state_interval_s": 0}


class _OwnFile(TargetFileTestTemplate):
    @property
    def singer_filepath(self) -> Path:
        return DATA / f"{self.name}.singer"


class PersonsRecordBeforeSchema(_OwnFile):
    name = "persons_record_before_schema"

    def test(self) -> None:
        with pytest.raises(RecordsWithoutSchemaException):
            super().test()


class PersonsMissingSourceKey(_OwnFile):
    name = "persons_missing_source_key"

    def test(self) -> None:
        with pytest.raises(MissingKeyPropertiesError):
            super().test()


class UnknownStreamRefused(_OwnFile):
    name = "unknown_stream"

    def test(self) -> None:
        self.runner.config = {**self.runner.config, "ignore_unknown_streams": False}
        with pytest.raises(ContractError, match="not part of the input contract"):
            super().test()


class StateRelayedWithoutRecords(_OwnFile):
    name = "only_state"

    def test(self) -> None:
        super().test()
        relayed = [m["bookmarks"].get("persons") for m in self.runner.state_messages]
        assert [b and b["replication_key_value"] for b in relayed] == [None, "2024-01-01T00:00:00Z",
                                                                       "2024-02-01T00:00:00Z"]
        assert all(b[STAMP] for b in relayed[1:])  # stamped with the crosswalk's epoch (bookmarks.py)


suite = SingerTestSuite(kind="target", tests=[
    TargetCliPrintsTest, TargetRecordBeforeSchemaTest, TargetRecordMissingKeyProperty, TargetInvalidSchemaTest,
    PersonsRecordBeforeSchema, PersonsMissingSourceKey, UnknownStreamRefused, StateRelayedWithoutRecords,
])

StandardTargetTests = get_target_test_class(TargetPipedrive, config=CONFIG, custom_suites=[suite],
                                            include_target_tests=False, suite_config=SuiteConfig())


class TestTargetPipedrive(StandardTargetTests):  # type: ignore[misc, valid-type]
    """singer-sdk standard tests (custom suite) for target-pipedrive."""
