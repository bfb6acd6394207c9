"""Company-local time as QBO writes it: MetaData stamps, the envelope `time`, and the date/time literals it parses.

The emulated company keeps one fixed UTC offset (default -07:00, Pacific daylight time), so every MetaData stamp
has the same suffix and stamps compare correctly as strings; that keeps watermark filters over 100k rows cheap.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

COMPANY_OFFSET = timedelta(hours=-7)

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


class CompanyTime:
    """Formats and parses times in the company's offset."""

    def __init__(self, offset: timedelta = COMPANY_OFFSET) -> None:
        self.zone = timezone(offset)

    def stamp(self, moment: datetime) -> str:
        """`2015-07-24T10:33:39-07:00`: MetaData.CreateTime / LastUpdatedTime (whole seconds, company offset)."""
        return moment.astimezone(self.zone).replace(microsecond=0).isoformat()

    def stamp_from_epoch(self, seconds: int) -> str:
        return datetime.fromtimestamp(seconds, self.zone).isoformat()

    def response_time(self, moment: datetime) -> str:
        """`2015-07-24T10:33:39.110-07:00`: the envelope's `time` (milliseconds, company offset)."""
        return moment.astimezone(self.zone).isoformat(timespec="milliseconds")

    def today(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def parse(self, text: str) -> datetime | None:
        """A literal of QBO's query/CDC forms (date, naive or offset datetime, `Z`, `-0700`) as an aware instant.

        A naive value is company time. Returns None when the text is not a date or datetime.
        """
        match = _DATETIME.match(text.strip())
        if not match:
            return None
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        zone: timezone = self.zone
        if offset:
            if offset.upper() == "Z":
                zone = UTC
            else:
                sign = -1 if offset[0] == "-" else 1
                digits = offset[1:].replace(":", "")
                zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        try:
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                int((fraction or "0")[:6].ljust(6, "0")),
                tzinfo=zone,
            )
        except ValueError:
            return None

    def normalize(self, text: str) -> str | None:
        """A literal rewritten as a MetaData-style stamp, so it compares with stored stamps as a string."""
        moment = self.parse(text)
        if moment is None:
            return None
        exact = moment.astimezone(self.zone)
        if exact.microsecond:
            # A fractional bound sits between two whole-second stamps: keep it sortable after the lower one.
            return exact.isoformat(timespec="seconds")[:19] + ".5" + exact.isoformat()[-6:]
        return exact.isoformat()
