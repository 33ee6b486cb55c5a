"""The range picker every time-based page shares: a relative range (1 h, 24 h, 7 d, 30 d) or a custom one
from ``since`` to ``until``, read as UTC. One form (``RangeForm``), one include (``core/_range.html``).

The query parameters are the API filters' own names, so a link made for the API (``?since=…Z``) opens the
page on that window: ``range`` is ``1h``/``24h``/``7d``/``30d`` (or ``all`` where a page allows it), and
``since``/``until`` (an ISO 8601 date-time with or without an offset, a ``datetime-local`` value, or a date;
no offset means UTC) make the range custom. A value the form cannot read is an error shown next to its
field: the page answers 400 and lists nothing, it never drops the value and lists everything."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import timezone

from core.filters import in_utc
from core.timefmt import utc_text

RELATIVE = {"1h": ("1 h", timedelta(hours=1)), "24h": ("24 h", timedelta(hours=24)),
            "7d": ("7 d", timedelta(days=7)), "30d": ("30 d", timedelta(days=30))}
ALL = "all"
CUSTOM = "custom"
PARAMS = ("range", "since", "until")  # the picker's query parameters; a page's other filters keep theirs
_PLUS_AS_SPACE = re.compile(r"^(.+[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?) (\d{2}:?\d{2})$")
LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"  # what <input type="datetime-local" step="1"> reads and writes


def parse_instant(raw: str) -> datetime:
    """``raw`` as an aware date-time in UTC: ISO 8601 with an offset, or without one (UTC), or a date
    (its midnight UTC). Raises ValueError for anything else."""
    text = raw.strip()
    if not text or len(text) > 40:
        raise ValueError("empty or too long")
    text = _PLUS_AS_SPACE.sub(r"\1+\2", text)  # "+00:00" written unencoded in a link arrives as " 00:00"
    value = datetime.fromisoformat(text)  # 3.11: "Z", a space for "T", a date alone
    if len(text) == 10:
        value = datetime.combine(value.date(), time(), tzinfo=UTC)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return in_utc(value)


class UtcInput(forms.DateTimeInput):
    """A ``datetime-local`` input holding UTC; a valid value given in any form is shown in the input's own."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs={"step": "1", **(attrs or {})})

    def format_value(self, value):
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime(LOCAL_FORMAT)
        if isinstance(value, str):
            try:
                return parse_instant(value).strftime(LOCAL_FORMAT)
            except ValueError:
                return value
        return super().format_value(value)


class UtcDateTimeField(forms.Field):
    widget = UtcInput
    default_error_messages = {
        "invalid": "“%(value)s” is not a date and time. Use YYYY-MM-DD HH:MM (UTC), e.g. 2026-12-02T13:45, "
                   "or an ISO 8601 time with an offset, in the years 1 to 9999.",
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_instant(str(value))
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid",
                                  params={"value": str(value)[:40]}) from None


@dataclass(frozen=True)
class Window:
    """The chosen range: ``key`` (``1h``… ``custom``, ``all``), its bounds (None: open), what it reads as."""

    key: str
    since: datetime | None
    until: datetime | None

    @property
    def label(self) -> str:
        if self.key in RELATIVE:
            return f"last {RELATIVE[self.key][0]}"
        if self.key == ALL:
            return "all time"
        start = utc_text(self.since, "minutes") if self.since else "the start"
        end = utc_text(self.until, "minutes") if self.until else "now"
        return f"{start} → {end}"

    def filter(self, queryset, field: str):
        """``queryset`` limited to ``since <= field < until``."""
        if self.since is not None:
            queryset = queryset.filter(**{f"{field}__gte": self.since})
        if self.until is not None:
            queryset = queryset.filter(**{f"{field}__lt": self.until})
        return queryset


class RangeForm(forms.Form):
    """The picker. ``default`` is the page's range when none is asked for; ``allow_all`` offers "all"."""

    range = forms.ChoiceField(required=False, label="Range")
    since = UtcDateTimeField(required=False, label="From (UTC)")
    until = UtcDateTimeField(required=False, label="To (UTC)")

    def __init__(self, data: QueryDict | dict | None = None, *, default: str = "24h", allow_all: bool = False,
                 now: datetime | None = None):
        keys = [*RELATIVE, *([ALL] if allow_all else [])]
        if default not in keys:
            raise ValueError(f"default must be one of {keys}")
        super().__init__(data if data is not None else {})
        self.default, self.now = default, now or timezone.now()
        self.fields["range"].choices = [(k, RELATIVE[k][0]) for k in RELATIVE] + (
            [(ALL, "All")] if allow_all else []) + [(CUSTOM, "Custom")]

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            self.add_error("until", "The end must come after the start.")
        if data.get("range") == CUSTOM and not (since or until) and not self.errors:
            self.add_error("since", "A custom range needs a start or an end.")
        return data

    @property
    def custom(self) -> bool:
        return bool(self.data.get("since") or self.data.get("until"))

    @property
    def window(self) -> Window:
        """The chosen window (the page's default when the form is invalid: the page shows no rows then)."""
        if not self.is_valid():
            return self._relative(self.default)
        data = self.cleaned_data
        if data.get("since") or data.get("until"):
            return Window(CUSTOM, data.get("since"), data.get("until"))
        return self._relative(data.get("range") or self.default)

    def _relative(self, key: str) -> Window:
        if key in RELATIVE:
            return Window(key, self.now - RELATIVE[key][1], None)
        if key == ALL:
            return Window(ALL, None, None)
        return self._relative(self.default)

    def quick_links(self, params: QueryDict) -> list[dict]:
        """The relative ranges as links that keep the page's other filters (not its page number)."""
        current = self.window.key if self.is_valid() else None
        links = []
        for key, label in self.fields["range"].choices:
            if key == CUSTOM:
                continue
            query = strip(params, also=("page", "before"))
            query["range"] = key
            links.append({"key": key, "label": label, "query": query.urlencode(), "current": key == current})
        return links


def strip(params: QueryDict, *, also: tuple[str, ...] = ()) -> QueryDict:
    """A copy of ``params`` without the picker's parameters (and ``also``): what the page's filters read."""
    query = params.copy()
    for name in (*PARAMS, *also):
        query.pop(name, None)
    return query


def ranged_filterset(filterset_class, params: QueryDict, *, queryset):
    """``filterset_class`` over ``params`` with the picker's names taken out of both: the picker owns them."""
    filterset = filterset_class(strip(params), queryset=queryset)
    for name in PARAMS:
        filterset.filters.pop(name, None)
    return filterset


def picker(form: RangeForm, params: QueryDict) -> dict:
    """What ``core/_range.html`` shows: the quick links, the date fields, the window, the page's other
    parameters (``kept``: hidden fields when the picker is a form of its own) and the picker's own (``own``:
    hidden fields of the page's other forms, which keep the range)."""
    kept = [(key, value) for key, values in strip(params, also=("page", "before")).lists() for value in values]
    own = [(key, params.get(key)[:40]) for key in PARAMS if params.get(key)]
    return {"form": form, "fields": [form["since"], form["until"]], "links": form.quick_links(params),
            "window": form.window, "custom": form.custom, "kept": kept, "own": own}
