"""QBO error replies: the Fault bodies the v3 API returns, built in one place and raised by the model as QboError.

Codes, messages and details are QBO's own (research note §5); where the real text is not public the wording is
ours and listed in docs/emulators/quickbooks.md.
"""

from __future__ import annotations

from typing import Any

INACTIVE_DETAIL = (
    "Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, "
    "vendors or employees."
)
DUPLICATE_NAME_DETAIL = (
    "The name supplied already exists. : Another customer, vendor or employee is already using this name. "
    "Please use a different name."
)
THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
THROTTLE_DETAIL = "The request limit was reached.  Try again later"  # two spaces, as QBO sends it


class QboError(Exception):
    """A v3 API failure: rendered as `{"Fault": {"Error": [...], "type": ...}, "time": ...}` with `status`."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        *,
        status: int = 400,
        element: str = "",
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status
        self.element = element
        self.fault_type = fault_type

    def fault(self) -> dict[str, Any]:
        """The `Fault` object (also used inside batch item responses)."""
        error = {"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}
        return {"Error": [error], "type": self.fault_type}


def object_not_found(deleted: bool = False) -> QboError:
    detail = "Another user has deleted this transaction." if deleted else INACTIVE_DETAIL
    return QboError("610", "Object Not Found", f"Object Not Found : {detail}")


def stale_object(entity: str) -> QboError:
    return QboError(
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and root were working on this at the same time. root finished before you did, "
        f"so your work was not saved. Entity={entity}",
    )


def duplicate_name(entity: str) -> QboError:
    if entity in ("Customer", "Vendor"):
        detail = DUPLICATE_NAME_DETAIL
    else:
        label = {"Item": "product or service", "Account": "account", "Class": "class", "Term": "term"}[entity]
        detail = (
            f"The name supplied already exists. : Another {label} is already using this name. "
            "Please use a different name."
        )
    return QboError("6240", "Duplicate Name Exists Error", detail)


def required_param(field: str, detail: str | None = None) -> QboError:
    return QboError(
        "2020",
        "Required param missing, need to supply the required value for the API",
        detail or f"Required parameter {field} is missing in the request.",
        element=field,
    )


def invalid_reference(field: str) -> QboError:
    return QboError("2500", "Invalid Reference Id", f"Invalid Reference Id : {INACTIVE_DETAIL}", element=field)


def inactive_reference(field: str) -> QboError:
    return QboError("610", "Object Not Found", f"Object Not Found : {INACTIVE_DETAIL}", element=field)


def unrecognized_property(entity: str, prop: str) -> QboError:
    return QboError(
        "2010",
        "Request has invalid or unsupported property",
        f'Property Name:Unrecognized field "{prop}" (class com.intuit.schema.finance.v3.{entity}), '
        "not marked as ignorable",
    )


def invalid_property(detail: str) -> QboError:
    return QboError("2010", "Request has invalid or unsupported property", f"Property Name:{detail}")


def invalid_enumeration(value: str, field: str) -> QboError:
    return QboError("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element=field)


def query_parse_error(detail: str) -> QboError:
    return QboError("4000", "Error parsing query", f"QueryParserError: {detail}")


def query_validation_error(detail: str) -> QboError:
    return QboError("4001", "Invalid query", f"QueryValidationError: {detail}")


def business_validation(detail: str) -> QboError:
    return QboError(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
    )


def unsupported_operation(detail: str) -> QboError:
    return QboError("500", "Unsupported Operation", f"Operation {detail} is not supported.")


def malformed_request(detail: str) -> QboError:
    return invalid_property(f"{detail} specified is unsupported or invalid")


def system_failure(detail: str = "An unexpected error occurred while accessing or saving your data.") -> QboError:
    return QboError(
        "10000",
        "An application error has occurred while processing your request",
        f"System Failure Error: {detail}",
        status=500,
        fault_type="SystemFault",
    )


def authentication_failed_body(detail: str | None, epoch_ms: int) -> dict[str, Any]:
    """The lowercase-keyed JSON QBO returns with HTTP 401 for an expired, revoked or malformed bearer token."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": epoch_ms,
        "status": None,
        "cdcresponse": [],
    }


def intuit_xml(time_text: str, fault_type: str, code: str, message: str, detail: str | None) -> str:
    """An IntuitResponse XML Fault: QBO's gateway answers throttling, realm mismatches and timeouts in XML."""
    detail_xml = f"\n            <Detail>{detail}</Detail>" if detail is not None else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse time="{time_text}" xmlns="http://schema.intuit.com/finance/v3">\n'
        f'    <Fault type="{fault_type}">\n'
        f'        <Error code="{code}">\n'
        f"            <Message>{message}</Message>{detail_xml}\n"
        "        </Error>\n"
        "    </Fault>\n"
        "</IntuitResponse>"
    )


def throttle_json(time_text: str) -> dict[str, Any]:
    error = {"Message": THROTTLE_MESSAGE, "Detail": THROTTLE_DETAIL, "code": "3001"}
    return {"Fault": {"Error": [error], "type": "SERVICE"}, "time": time_text}


SERVICE_UNAVAILABLE_HTML = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\n'
    "<HTML><HEAD><TITLE>Service Unavailable</TITLE>\n"
    '<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\n'
    "<BODY><h2>Service Unavailable</h2>\n<hr><p>HTTP Error 503. The service is unavailable.</p>\n</BODY></HTML>\n"
)


def overpaid(detail: str) -> QboError:
    """A payment applying more than is open: QBO answers 6000 "The payments you entered add up to more…" (the
    opening words are QBO's as integrators quote them; the rest of each detail is ours)."""
    return business_validation(f"The payments you entered add up to more than {detail}.")
