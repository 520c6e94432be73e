"""Acquisition dates as the tec CLI reads them (tools/tec_util.c,
tec_parse_date), so that a cube coded from Python carries the same packet
times, and so the same temporal-model inputs, as `tec encode --dates`."""
import datetime as _dt
import re

import numpy as np

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?")
_EPOCH = _dt.date(1970, 1, 1)


def parse(label):
    """Milliseconds since 1970 UTC for an ISO date or date-time, None for
    another label (kept as text, as "--09" or "season-0"); ValueError for
    something shaped like a date that is not one."""
    m = _DATE.match(label)
    if not m or (len(label) > 10 and label[10] != "T"):
        return None
    try:
        day = _dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError(f"'{label}' is not a valid date") from None
    ms = (day - _EPOCH).days * 86400000
    if len(label) == 10:
        return ms
    t = _TIME.fullmatch(label, 11)
    bad = ValueError(f"'{label}' is not a valid date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[Z])")
    if not t:
        raise bad
    h, mi, s = int(t[1]), int(t[2]), int(t[3])
    if h > 23 or mi > 59 or s > 59:
        raise bad
    ms += ((h * 60 + mi) * 60 + s) * 1000
    if t[4] is not None:
        if len(t[4]) > 3:
            raise ValueError(f"'{label}': times are kept to the millisecond, no finer")
        ms += int(t[4].ljust(3, "0"))
    zone = t[5]
    if zone and zone != "Z":
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            raise bad
        off = (oh * 60 + om) * 60000
        ms += -off if zone[0] == "+" else off
    return ms


def label(value):
    """The text of one date: strings as they are, dates and date-times
    (datetime, numpy datetime64) in ISO form, UTC."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[ms]").astype(_dt.datetime)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        if value.time() == _dt.time(0):
            return value.date().isoformat()
        frac = f".{value.microsecond // 1000:03d}" if value.microsecond // 1000 else ""
        return value.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"
    if isinstance(value, _dt.date):
        return value.isoformat()
    raise TypeError(f"date {value!r}: need a string, datetime.date/datetime or datetime64")


def to_datetime64(labels):
    """The labels as datetime64[ms] when every one is an ISO date, else None."""
    times = [parse(s) for s in labels]
    if any(t is None for t in times):
        return None
    return np.array(times, dtype="datetime64[ms]")
