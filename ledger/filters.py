"""One filter definition for the runs API and the runs page (a query string means the same in both)."""
import django_filters
from django.db.models import F

from core.filters import IsoDateTimeFilter
from ledger.choices import RunStatus
from ledger.models import ResearchRun, RunSummary


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
SORTS = {"created": "run_id", "net_pnl": "net_pnl", "sharpe": "sharpe", "deflated_sharpe": "deflated_sharpe",
         "max_drawdown": "max_drawdown", "pbo": "pbo"}
SORT_CHOICES = [(f"{sign}{key}", f"{label} {'↓' if sign else '↑'}")
                for key, label in (("created", "Stored"), ("net_pnl", "Net P&L"), ("sharpe", "Sharpe"),
                                   ("deflated_sharpe", "Deflated Sharpe"), ("max_drawdown", "Max drawdown"),
                                   ("pbo", "PBO"))
                for sign in ("-", "")]


def _through_run(filterset: type[django_filters.FilterSet]) -> dict[str, django_filters.Filter]:
    """The filters of a runs FilterSet, reaching the run from a row that points at it."""
    import copy

    out = {}
    for name, original in filterset.base_filters.items():
        clone = copy.deepcopy(original)
        clone.field_name = f"run__{original.field_name}"
        out[name] = clone
    return out


def _sort_by(self, queryset, name, value):
    column = SORTS[value.lstrip("-")]
    if column == "run_id":
        return queryset.order_by("run_id" if value == "created" else "-run_id")
    expression = F(column).desc(nulls_last=True) if value.startswith("-") else F(column).asc(nulls_last=True)
    return queryset.order_by(expression, "-run_id")  # an index per column and direction: RunSummary.Meta


class _Meta:
    model = RunSummary
    fields: list[str] = []


# The runs page filters the runs' summaries (one per run, written with it): the API's run filters
# (the same names and meanings, through ``run``), bounds on the best candidate's figures and a sort.
# The page's ids then come from one table walked in index order, however deep the page.
RunPageFilter = type("RunPageFilter", (django_filters.FilterSet,), {
    "__module__": __name__,
    **_through_run(RunFilter),
    "net_pnl_min": django_filters.NumberFilter(field_name="net_pnl", lookup_expr="gte", label="Net P&L ≥"),
    "sharpe_min": django_filters.NumberFilter(field_name="sharpe", lookup_expr="gte", label="Sharpe ≥"),
    "deflated_sharpe_min": django_filters.NumberFilter(field_name="deflated_sharpe", lookup_expr="gte",
                                                       label="Deflated Sharpe ≥", min_value=0, max_value=1),
    "max_drawdown_max": django_filters.NumberFilter(field_name="max_drawdown", lookup_expr="lte",
                                                    label="Max drawdown ≤", min_value=0),
    "pbo_max": django_filters.NumberFilter(field_name="pbo", lookup_expr="lte", label="PBO ≤", min_value=0,
                                           max_value=1),
    "sort": django_filters.ChoiceFilter(choices=SORT_CHOICES, method="sort_by", label="Sort", empty_label="Stored ↓"),
    "sort_by": _sort_by,
    "Meta": _Meta,
})
RunPageFilter.base_filters["status"].label = "Status"
RunPageFilter.base_filters["created_after"].label = "Stored from (UTC)"
RunPageFilter.base_filters["created_before"].label = "Stored before (UTC)"
