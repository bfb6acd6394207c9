"""The gateway's error replies, raised by the model and the request parser and printed by the wire layer.

Three levels (DOC-ERR): a control-level error stops the whole request, an authentication-level error stops one
operation, a function-level error fails one function. Codes and texts are the real ones where the research note has
them; codes starting with EMU- are this emulator's own for behaviours whose real text is not public.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import quote

ROLLBACK_ERRORNO = "XL03000009"
ROLLBACK_TEXT = "The entire transaction in this operation has been rolled back due to an error."


def support_id() -> str:
    """A token like Intacct's `[Support ID: p5rxS%7EYxEXrDEnVyr0F531W8X9bQAAACQ]` (URL-encoded, as real ones are)."""
    raw = secrets.token_urlsafe(24).replace("-", "~")
    return quote(raw, safe="")


def with_support_id(text: str) -> str:
    return f"{text} [Support ID: {support_id()}]"


@dataclass
class ErrorDetail:
    errorno: str
    description: str = ""
    description2: str = ""
    correction: str = ""


@dataclass
class IntacctError(Exception):
    """One or more <error> blocks; `level` says where they stop processing."""

    errors: list[ErrorDetail] = field(default_factory=list)
    level: str = "function"  # control | authentication | function

    def __str__(self) -> str:
        return "; ".join(f"{e.errorno}: {e.description2 or e.description}" for e in self.errors)


def control_error(errorno: str, description2: str, description: str = "", correction: str = "") -> IntacctError:
    return IntacctError([ErrorDetail(errorno, description, with_support_id(description2), correction)], "control")


def schema_error(message: str) -> IntacctError:
    """XL03000003: the request does not parse or does not match api.xsd; nothing is executed."""
    return control_error("XL03000003", f"XML Parse schema error: {message}")


def sign_in_error() -> IntacctError:
    return IntacctError([ErrorDetail("XL03000006", "", "Sign-in information is incorrect", "")], "authentication")


def sender_not_authorized(sender_id: str, company_id: str) -> IntacctError:
    return IntacctError(
        [
            ErrorDetail(
                "XL03000006",
                "Invalid Web Services Authorization",
                f"The sender ID '{sender_id}' is not authorized to make Web Services requests to company ID "
                f"'{company_id}'.",
                "Contact the company administrator to grant Web Services authorization to this sender ID.",
            )
        ],
        "authentication",
    )


def function_error(errorno: str, description2: str, description: str = "", correction: str = "") -> IntacctError:
    return IntacctError([ErrorDetail(errorno, description, with_support_id(description2), correction)])


def record_error(object_label: str, verb: str, description2: str, errorno: str = "BL01001973",
                 description: str = "", correction: str = "") -> IntacctError:
    """A rejected record: the specific error, then the generic "Could not create Project record!" Intacct adds."""
    return IntacctError(
        [
            ErrorDetail(errorno, description, with_support_id(description2), correction),
            ErrorDetail("BL01001973", "", f"Could not {verb} {object_label} record!", ""),
        ]
    )


def query_failed(description2: str) -> IntacctError:
    """Bad object, field or query text: errorno is the free text "Query Failed" (PHP ResultTest)."""
    return IntacctError([ErrorDetail("Query Failed", "", with_support_id(description2), "")])
