"""One filter definition for the positions API (and any page that lists positions)."""
import django_filters

from autonomy.models import Position


class PositionFilter(django_filters.FilterSet):
    strategy = django_filters.CharFilter(field_name="strategy__name", label="Strategy")
    symbol = django_filters.CharFilter(method="filter_symbol", label="Symbol")

    class Meta:
        model = Position
        fields = ["strategy", "symbol"]

    def filter_symbol(self, queryset, name, value):
        return queryset.filter(symbol=value.strip().upper())
