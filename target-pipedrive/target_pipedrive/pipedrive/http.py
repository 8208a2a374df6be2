"""One HTTP exchange with Pipedrive, on requests (a Session per writer thread: a Session is not thread-safe).

The client needs to know one thing requests' exceptions say but do not sort: did the request possibly
reach Pipedrive? A connect timeout means it was never sent (`ConnectTimedOut`, safe to send again);
anything else may have been acted on (`ConnectionLost`: a create is looked up before it is sent again).
A connection that could not be made at all - refused, a name that does not resolve, TLS - carries why,
in words, so the first request of a run can name the setting to fix instead of retrying for minutes.
Redirects are not followed (the API uses none); proxies and a CA bundle come from the environment, as
requests reads them.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError


class ConnectTimedOut(Exception):
    """No connection was made in time: the request was never sent."""


class ConnectionLost(Exception):
    """The exchange failed after connecting (or the connection was refused): it may have been acted on.

    Its text is the name of requests' exception (messages and logs name only that).
    """

    def __init__(self, name: str, unreachable: str | None = None) -> None:
        super().__init__(name)
        self.unreachable = unreachable  # why no connection could be made at all (refused, DNS, TLS), in words


def unreachable(exc: requests.RequestException) -> str | None:
    """In words, why a connection could not be made at all; None when it was made (or only timed out)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS connection failed (a certificate or protocol problem)"
    if not isinstance(exc, requests.exceptions.ConnectionError) or isinstance(exc, requests.exceptions.Timeout):
        return None
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)  # urllib3's MaxRetryError carries the connection's error
    if isinstance(reason, NameResolutionError) or "resolution" in str(reason) or "not known" in str(reason):
        return "its host name does not resolve"
    if isinstance(reason, NewConnectionError) and "refused" in str(reason).lower():
        return "the connection was refused"
    return None


class Http:
    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(self._headers)
        return session

    def send(self, method: str, url: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
             data: dict[str, Any] | None = None, files: dict[str, Any] | None = None,
             timeout_s: float) -> requests.Response:
        try:
            return self._session().request(method, url, params=params, json=json_body, data=data, files=files,
                                           timeout=timeout_s, allow_redirects=False)
        except requests.exceptions.ConnectTimeout:
            raise ConnectTimedOut("ConnectTimeout") from None
        except requests.RequestException as exc:
            raise ConnectionLost(type(exc).__name__, unreachable(exc)) from None
