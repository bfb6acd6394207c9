"""Salesforce error replies: the one exception the model raises and the JSON bodies the wire layer sends for it."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

JSON_MEDIA_TYPE = "application/json;charset=UTF-8"


class SalesforceApiError(Exception):
    """A request-level error: HTTP status plus the `[{"message","errorCode"[,"fields"]}]` body Salesforce sends."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]


class RecordError(Exception):
    """One record of a write failed; REST single-record calls turn it into a 400, collections and bulk into a row."""

    def __init__(self, status_code: str, message: str, fields: list[str] | None = None, http_status: int = 400) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.fields = fields or []
        self.http_status = http_status

    def as_api_error(self) -> SalesforceApiError:
        return SalesforceApiError(self.http_status, self.status_code, self.message, self.fields)

    def collection_item(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}

    def bulk_text(self) -> str:
        """The sf__Error cell of a Bulk 2.0 failedResults row: `CODE:message:fields --`, or `CODE:message:--`
        when the error names no field."""
        if not self.fields:
            return f"{self.status_code}:{self.message}:--"
        return f"{self.status_code}:{self.message}:{','.join(self.fields)} --"


def not_found() -> SalesforceApiError:
    return SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> SalesforceApiError:
    return SalesforceApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def request_limit_exceeded() -> SalesforceApiError:
    return SalesforceApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def malformed_query(message: str) -> SalesforceApiError:
    return SalesforceApiError(400, "MALFORMED_QUERY", message)


def invalid_field(message: str) -> SalesforceApiError:
    return SalesforceApiError(400, "INVALID_FIELD", message)


def invalid_type(object_name: str) -> SalesforceApiError:
    return SalesforceApiError(
        400,
        "INVALID_TYPE",
        f"sObject type '{object_name}' is not supported. If you are attempting to use a custom object, be sure to "
        "append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate "
        "names.",
    )


def error_response(error: SalesforceApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    extra = dict(headers or {})
    if error.status == 401:
        extra["WWW-Authenticate"] = "Token"
    return JSONResponse(error.body(), status_code=error.status, headers=extra, media_type=JSON_MEDIA_TYPE)
