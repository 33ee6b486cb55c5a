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


# The runs page's sort keys: column -> summary field (sorted in SQL, blanks last, newest first on ties).
SORTS = {"created": "id", "net_pnl": "summary__net_pnl", "sharpe": "summary__sharpe",
         "deflated_sharpe": "summary__deflated_sharpe", "max_drawdown": "summary__max_drawdown", "pbo": "summary__pbo"}
SORT_CHOICES = [(f"{sign}{key}", f"{label} {'↓' if sign else '↑'}")
                for key, label in (("created", "Stored"), ("net_pnl", "Net P&L"), ("sharpe", "Sharpe"),
                                   ("deflated_sharpe", "Deflated Sharpe"), ("max_drawdown", "Max drawdown"),
                                   ("pbo", "PBO"))
                for sign in ("-", "")]


class RunPageFilter(RunFilter):
    """The runs page: the API's filters plus bounds on the best candidate's figures, and a sort."""

    net_pnl_min = django_filters.NumberFilter(field_name="summary__net_pnl", lookup_expr="gte",
                                              label="Net P&L ≥")
    sharpe_min = django_filters.NumberFilter(field_name="summary__sharpe", lookup_expr="gte", label="Sharpe ≥")
    deflated_sharpe_min = django_filters.NumberFilter(field_name="summary__deflated_sharpe", lookup_expr="gte",
                                                      label="Deflated Sharpe ≥", min_value=0, max_value=1)
    max_drawdown_max = django_filters.NumberFilter(field_name="summary__max_drawdown", lookup_expr="lte",
                                                   label="Max drawdown ≤", min_value=0)
    pbo_max = django_filters.NumberFilter(field_name="summary__pbo", lookup_expr="lte", label="PBO ≤",
                                          min_value=0, max_value=1)
    sort = django_filters.ChoiceFilter(choices=SORT_CHOICES, method="sort_by", label="Sort", empty_label="Stored ↓")

    class Meta(RunFilter.Meta):
        fields = [*RunFilter.Meta.fields, "net_pnl_min", "sharpe_min", "deflated_sharpe_min", "max_drawdown_max",
                  "pbo_max", "sort"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["created_after"].label = "Stored from (UTC)"
        self.filters["created_before"].label = "Stored before (UTC)"

    def sort_by(self, queryset, name, value):
        from django.db.models import F

        column = SORTS[value.lstrip("-")]
        expression = F(column).desc(nulls_last=True) if value.startswith("-") else F(column).asc(nulls_last=True)
        return queryset.order_by(expression, "-id")
