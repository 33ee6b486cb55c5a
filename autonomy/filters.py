"""One filter definition per list, shared by the API and the pages."""
import django_filters

from autonomy.choices import AlertSeverity, AlertStatus, LaneCycleStatus
from autonomy.models import Alert, LaneCycle, Position


class PositionFilter(django_filters.FilterSet):
    strategy = django_filters.CharFilter(field_name="strategy__name", label="Strategy")
    symbol = django_filters.CharFilter(method="filter_symbol", label="Symbol")

    class Meta:
        model = Position
        fields = ["strategy", "symbol"]

    def filter_symbol(self, queryset, name, value):
        return queryset.filter(symbol=value.strip().upper())


class AlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices)
    severity = django_filters.ChoiceFilter(choices=AlertSeverity.choices)

    class Meta:
        model = Alert
        fields = ["status", "severity"]


class LaneCycleFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=LaneCycleStatus.choices)

    class Meta:
        model = LaneCycle
        fields = ["status"]
