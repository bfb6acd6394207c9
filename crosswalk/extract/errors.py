"""Errors of the extract stage; each names the system and object (and page or record) it is about."""

from __future__ import annotations


class ExtractError(Exception):
    """A stream could not be extracted; its watermark did not move."""

    def __init__(self, system: str, object_name: str, problem: str) -> None:
        self.system = system
        self.object_name = object_name
        self.problem = problem
        super().__init__(f"{system} {object_name}: {problem}")


class BadResponseError(ExtractError):
    """The API answered with something that is not a valid page (truncated, HTML, wrong type, record without key)."""

    def __init__(self, system: str, object_name: str, page: int | None, problem: str) -> None:
        self.page = page
        where = f"page {page}: " if page is not None else ""
        super().__init__(system, object_name, where + problem)


class MalformedResponseError(Exception):
    """An API reply that is not a usable answer (truncated, HTML, wrong content type); a client raises it where it
    finds the damage and the stream's page loop turns it into BadResponseError naming system, object and page."""


class TransientError(Exception):
    """A failure worth retrying (throttling, 5xx, reset connection, timeout); retry_after in seconds if the API said."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(reason)


class RetriesExhaustedError(Exception):
    """Retries ran out. `origin` (scheme://host:port) is set when the last failure was that no connection could be
    opened to that server; `detail` replaces the last error's own text (which may carry a URL) when given."""

    def __init__(
        self,
        operation: str,
        attempts: int,
        last: BaseException,
        origin: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.operation = operation
        self.attempts = attempts
        self.last = last
        self.origin = origin
        self.detail = detail
        where = f"cannot connect to {origin}, " if origin else ""
        problem = detail if detail is not None else str(last)
        super().__init__(f"{operation}: {where}still failing after {attempts} attempts: {problem}")


class CredentialsError(Exception):
    """The system refused Crosswalk's credentials (not retryable: a person must fix the configuration)."""
