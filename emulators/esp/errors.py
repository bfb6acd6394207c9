"""ESP+ error replies: one exception the model raises and the one function that turns it into ASI's `{"Error"}` body."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class EspError(Exception):
    """A failed ESP+ call: HTTP status, ASI's `Error` message, optional field errors and extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        field_errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field_errors = field_errors
        self.headers = headers or {}


class OAuthError(Exception):
    """A refused token request, answered in OAuth 2 (RFC 6749 §5.2) form rather than ASI's `{"Error"}` form."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def esp_error_response(error: EspError) -> JSONResponse:
    body: dict[str, Any] = {"Error": error.message}
    if error.field_errors:
        body["Errors"] = error.field_errors
    return JSONResponse(body, status_code=error.status, headers=error.headers, media_type=JSON_MEDIA_TYPE)


def oauth_error_response(error: OAuthError) -> JSONResponse:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oauth2"'
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=error.status,
        headers=headers,
        media_type=JSON_MEDIA_TYPE,
    )


def not_found(entity: str) -> EspError:
    return EspError(404, f"{entity} not found")


def bad_request(message: str, field: str | None = None) -> EspError:
    errors = [{"Field": field, "Message": message}] if field else None
    return EspError(400, message, errors)
