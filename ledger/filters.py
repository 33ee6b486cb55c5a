"""One filter definition for the runs API and the runs page (a query string means the same in both)."""
import django_filters

from core.filters import IsoDateTimeFilter
from ledger.choices import RunStatus
from ledger.models import ResearchRun


class RunFilter(django_filters.FilterSet):
    strategy = django_filters.CharFilter(field_name="strategy_name", label="Strategy")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    dataset_fingerprint = django_filters.CharFilter(field_name="dataset__fingerprint", label="Dataset fingerprint")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ResearchRun
        fields = ["strategy", "status", "dataset_fingerprint", "created_after", "created_before"]
