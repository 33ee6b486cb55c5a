"""The site's one way of writing times, for what Django formats itself (the admin's change lists and
read-only fields, ``|date`` without an argument): UTC (TIME_ZONE), ISO-like, the zone named."""
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
TIME_FORMAT = "H:i:s"
