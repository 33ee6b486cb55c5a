"""The API's filter backend skips the filterset only when the query string names none of its parameters."""
from __future__ import annotations

import django_filters
import pytest
from django.http import QueryDict

from core.filters import _names_a_filter
from execution.filters import ExecutionFilter
from execution.models import Execution
from tests.execution.factories import ExecutionFactory


class RangeFilterSet(django_filters.FilterSet):
    qty = django_filters.RangeFilter(field_name="submitted_qty")  # reads qty_min and qty_max

    class Meta:
        model = Execution
        fields = ["qty"]


class RequiredFilterSet(django_filters.FilterSet):
    symbol = django_filters.CharFilter(required=True)

    class Meta:
        model = Execution
        fields = ["symbol"]


@pytest.mark.parametrize(("query", "filterset", "names"), [
    ("", ExecutionFilter, False),
    ("limit=10&cursor=abc&format=json", ExecutionFilter, False),
    ("symbol=", ExecutionFilter, True),
    ("limit=5&until=2026-01-01T00:00:00Z", ExecutionFilter, True),
    ("qty_min=2", RangeFilterSet, True),
    ("limit=5", RangeFilterSet, False),
    ("", RequiredFilterSet, True),  # a required filter must be seen missing
])
def test_which_query_strings_reach_the_filterset(query, filterset, names):
    assert _names_a_filter(QueryDict(query), filterset) is names


@pytest.mark.django_db
def test_the_executions_list_still_filters_and_refuses_what_it_cannot_read(make_client):
    ExecutionFactory(symbol="AAPL")
    ExecutionFactory(symbol="MSFT")
    client = make_client("auditor")
    assert len(client.get("/api/v1/trading/executions?limit=10").json()["results"]) == 2
    assert [r["symbol"] for r in client.get("/api/v1/trading/executions?symbol=msft").json()["results"]] == ["MSFT"]
    assert client.get("/api/v1/trading/executions?since=yesterday").status_code == 400
    assert client.get("/api/v1/trading/executions?status=nonsense").status_code == 400
