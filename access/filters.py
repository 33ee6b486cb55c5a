"""Filters of the audit trail (the auditors' page and its CSV export share them)."""
import django_filters

from access.choices import Outcome, Via
from access.models import AuditEvent
from core.filters import IsoDateTimeFilter


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor", lookup_expr="iexact", label="Actor")
    via = django_filters.ChoiceFilter(choices=Via.choices, label="Via")
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices, label="Outcome")
    since = IsoDateTimeFilter(field_name="at", lookup_expr="gte", label="From (ISO 8601)")
    until = IsoDateTimeFilter(field_name="at", lookup_expr="lt", label="Until (ISO 8601)")
    path = django_filters.CharFilter(field_name="path", lookup_expr="icontains", label="Path contains")
    action = django_filters.CharFilter(field_name="action", lookup_expr="icontains", label="Action contains")
    request_id = django_filters.CharFilter(field_name="request_id", lookup_expr="exact", label="Request id")

    class Meta:
        model = AuditEvent
        fields = ["actor", "via", "outcome", "since", "until", "path", "action", "request_id"]
