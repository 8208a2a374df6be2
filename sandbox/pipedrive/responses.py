"""Pipedrive's envelopes and error bodies, and the exception handlers raise to send them.

Shapes (research notes §3.3): v1 errors carry `error_info`, `data: null`,
`additional_data: null`; v2 validation errors are `{"success": false, "error":
"Validation failed: <field>: <reason>; ...", "code": "ERR_SCHEMA_VALIDATION_FAILED"}`;
v2 not-found is the spec's example body; the gateway 401 and 429 bodies carry `errorCode`.
"""

from __future__ import annotations

from typing import Any

from sandbox.common.http import Response

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


def ok(data: Any, additional_data: Any = None, status: int = 200, **extra: Any) -> Response:
    payload: dict[str, Any] = {"success": True, "data": data}
    if additional_data is not None:
        payload["additional_data"] = additional_data
    payload.update(extra)
    return Response.json(payload, status)


def v1_error(message: str, status: int = 400, **extra: Any) -> Response:
    body = {"success": False, "error": message, "error_info": ERROR_INFO, "data": None, "additional_data": None}
    body.update(extra)
    return Response.json(body, status)


def v2_error(message: str, status: int, code: str) -> Response:
    return Response.json({"success": False, "error": message, "code": code}, status)


def v2_validation(messages: list[str]) -> Response:
    return v2_error("Validation failed: " + "; ".join(messages), 400, "ERR_SCHEMA_VALIDATION_FAILED")


def v2_not_found() -> Response:
    return Response.json({"success": False, "error": "Entity was not found", "error_info": "Object was not found.",
                          "data": None, "additional_data": None}, 404)


def unauthorized() -> Response:
    return Response.json({"success": False, "error": "unauthorized access", "errorCode": 401,
                          "error_info": "Please check developers.pipedrive.com"}, 401, {"x-401-by-gw": "true"})


class ApiError(Exception):
    """Raised anywhere inside a handler; the router turns it into its response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class ValidationFailed(ApiError):
    """A v2 request broke the schema; carries every `field: reason` message."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(v2_validation(messages))
        self.messages = messages


def fail_v1(message: str, status: int = 400) -> ApiError:
    return ApiError(v1_error(message, status))
