"""ESP+ timestamps: stored as integer UTC epoch milliseconds, written the way ASI's .NET backend writes them.

ASI writes ISO-8601 UTC with `Z` and trims trailing zeros of the fraction (`"2019-04-09T15:33:15.81Z"`,
`"2019-04-30T10:30:50.097Z"`), and date-only fields as midnight UTC (`"2019-04-30T00:00:00Z"`).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, date, datetime

from emulators.esp.errors import bad_request

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_from_datetime(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_from_date(day: date) -> int:
    return (day.toordinal() - 719_163) * 86_400_000  # 719163 is date(1970, 1, 1).toordinal()


def format_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if millis:
        return f"{base}.{millis:03d}".rstrip("0") + "Z"
    return base + "Z"


def parse_instant(value: str, name: str) -> int:
    """An ISO-8601 instant (`Z`, an offset, or none meaning UTC; a bare date is midnight UTC) as epoch ms.

    A fraction finer than a millisecond rounds up, so `>=` against millisecond stamps stays exact.
    """
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"{name} must be an ISO-8601 date-time such as 2024-01-31T12:00:00.000Z", name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return math.ceil(micros / 1000)
