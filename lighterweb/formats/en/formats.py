"""Date formats of the admin: ISO dates and 24-hour times with seconds and the zone
(`2026-12-05 17:04:09 UTC`), instead of English's "Dec. 5, 2026, 5 p.m." (no minutes)."""

DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
