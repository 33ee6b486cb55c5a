"""One filter definition for the executions API and the executions page."""
import django_filters
from django.db.models import Q

from core.filters import BooleanFilter, IsoDateTimeFilter
from execution.choices import Adapter, ExecutionStatus, RefusalCode
from execution.models import Execution, LeanOutage, OrderRefusal


class ExecutionFilter(django_filters.FilterSet):
    symbol = django_filters.CharFilter(method="filter_symbol", label="Symbol")
    since = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte", label="Since")
    until = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt", label="Until")
    adapter = django_filters.ChoiceFilter(field_name="execution_actual_adapter", choices=Adapter.choices,
                                          label="Actual adapter")
    expected_adapter = django_filters.ChoiceFilter(field_name="execution_expected_adapter", choices=Adapter.choices,
                                                   label="Expected adapter")
    status = django_filters.ChoiceFilter(choices=ExecutionStatus.choices)
    fallback = BooleanFilter(method="filter_fallback", label="Fell back")
    strategy = django_filters.CharFilter(field_name="strategy__name", label="Strategy")
    client_order_id = django_filters.CharFilter(field_name="client_order_id", label="Client order id")

    class Meta:
        model = Execution
        fields = ["symbol", "since", "until", "adapter", "expected_adapter", "status", "fallback", "strategy",
                  "client_order_id"]

    def filter_symbol(self, queryset, name, value):
        return queryset.filter(symbol=value.strip().upper())

    def filter_fallback(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(execution_fallback_count__gt=0) if value else queryset.filter(
            Q(execution_fallback_count=0))


class LeanOutageFilter(django_filters.FilterSet):
    open = BooleanFilter(field_name="ended_at", lookup_expr="isnull", label="Open")
    since = IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")

    class Meta:
        model = LeanOutage
        fields = ["open", "since"]


class ExecutionPageFilter(ExecutionFilter):
    """The executions page: the API's filters, plus what the dashboards' figures count (``routed``: the
    non-legacy orders a broker was asked for, i.e. past ``pending_submit``, as the fallback rates count them)."""

    routed = BooleanFilter(method="filter_routed", label="Routed")

    class Meta(ExecutionFilter.Meta):
        fields = [*ExecutionFilter.Meta.fields, "routed"]

    def filter_routed(self, queryset, name, value):
        if value is None:
            return queryset
        routed = Q(legacy=False) & ~Q(status=ExecutionStatus.PENDING_SUBMIT)
        return queryset.filter(routed if value else ~routed)


class OrderRefusalFilter(django_filters.FilterSet):
    code = django_filters.ChoiceFilter(choices=RefusalCode.choices, label="Code")
    strategy = django_filters.CharFilter(field_name="strategy_name", label="Strategy")
    symbol = django_filters.CharFilter(method="filter_symbol", label="Symbol")
    since = IsoDateTimeFilter(field_name="at", lookup_expr="gte", label="Since")
    until = IsoDateTimeFilter(field_name="at", lookup_expr="lt", label="Until")
    client_order_id = django_filters.CharFilter(field_name="client_order_id", label="Client order id")

    class Meta:
        model = OrderRefusal
        fields = ["code", "strategy", "symbol", "since", "until", "client_order_id"]

    def filter_symbol(self, queryset, name, value):
        return queryset.filter(symbol=value.strip().upper())
