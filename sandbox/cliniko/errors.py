"""Client errors raised while reading a request, turned into Cliniko-style JSON bodies."""

from __future__ import annotations

from sandbox.common.http import Response


class ApiError(Exception):
    """A request the API refuses; `errors` maps the offending parameter to a message."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}

    def response(self) -> Response:
        body: dict[str, object] = {"message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return Response.json(body, self.status)


def bad_request(param: str, message: str) -> ApiError:
    """400 naming the parameter (Cliniko's behaviour for bad filters is undocumented)."""
    return ApiError(400, f"Invalid parameter {param}: {message}", {param: message})


def not_found() -> ApiError:
    return ApiError(404, "Not found")
