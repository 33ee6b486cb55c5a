"""Pages of a list, numbered, with a total: one helper for every list page, one include to draw it
(``core/_pagination.html``), the page's filters kept in every link.

Two kinds:

- :func:`paginate`: page numbers (``?page=N``) over a queryset, with its exact total.
- :func:`keyset_paginate`: for lists too long to count or to skip into (the executions list over a
  million rows). Each page starts below the last id of the page before (``?before=ID``: as fast deep as
  on top), the page number is carried along in the links, and the total is counted up to a cap: past
  it the page says "10,000+" and that the count stops there.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Paginator
from django.http import QueryDict

WINDOW = 2  # page numbers shown on each side of the current one


@dataclass
class Pager:
    number: int
    per_page: int
    total: int
    total_capped: bool = False  # the total is a lower bound: counting stopped at ``total``
    num_pages: int | None = None  # None: unknown (keyset pages past the counted rows)
    previous_url: str | None = None
    next_url: str | None = None
    first_url: str | None = None
    links: list[dict[str, Any]] = field(default_factory=list)  # {"number", "url", "current"} or {"gap": True}
    first_row: int = 0
    last_row: int = 0

    @property
    def total_label(self) -> str:
        return f"{self.total:,}+" if self.total_capped else f"{self.total:,}"

    @property
    def summary(self) -> str:
        """"rows 101–150 of 1,234 · page 3 of 25", or "… of 10,000+ · page 3" past a keyset list's count."""
        rows = f"rows {self.first_row:,}–{self.last_row:,} of " if self.last_row else ""
        pages = f"page {self.number} of {self.num_pages}" if self.num_pages else f"page {self.number}"
        return f"{rows}{self.total_label} · {pages}"

    @property
    def needed(self) -> bool:
        """Something to say: rows to count, or pages to move between."""
        return bool(self.previous_url or self.next_url or self.first_url or self.total > 0)

    @property
    def many(self) -> bool:
        """More than one page."""
        return bool(self.previous_url or self.next_url or self.first_url or (self.num_pages or 0) > 1)


def query_with(params: QueryDict, **changes: Any) -> str:
    """``?…`` of ``params`` with ``changes`` applied (``None`` removes a key): the filters are kept."""
    query = params.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def _number(raw: str | None) -> int:
    try:
        return max(1, int(raw or 1))
    except (TypeError, ValueError):
        return 1


def _window(number: int, num_pages: int) -> list[int | None]:
    shown = sorted({1, num_pages, *range(max(1, number - WINDOW), min(num_pages, number + WINDOW) + 1)})
    out: list[int | None] = []
    for n in shown:
        if out and n - out[-1] > 1:
            out.append(None)
        out.append(n)
    return out


def paginate(params: QueryDict, object_list, *, per_page: int = 50, param: str = "page",
             anchor: str = "", base: str = "") -> tuple[Sequence, Pager]:
    """The requested page of ``object_list`` (a page number out of range shows the last page) and its pager;
    its links go to ``#anchor`` when the list is not at the top of its page, and to ``base`` when given
    (else the same path)."""
    page = Paginator(object_list, per_page).get_page(_number(params.get(param)))
    num_pages = page.paginator.num_pages

    def url(n: int) -> str:
        return base + query_with(params, **{param: n if n > 1 else None}) + (f"#{anchor}" if anchor else "")

    links = [{"gap": True} if n is None else {"number": n, "url": url(n), "current": n == page.number}
             for n in _window(page.number, num_pages)] if num_pages > 1 else []
    pager = Pager(number=page.number, per_page=per_page, total=page.paginator.count, num_pages=num_pages,
                  previous_url=url(page.number - 1) if page.has_previous() else None,
                  next_url=url(page.number + 1) if page.has_next() else None,
                  first_url=url(1) if page.number > 1 else None, links=links,
                  first_row=page.start_index(), last_row=page.end_index())
    return page.object_list, pager


def keyset_paginate(params: QueryDict, queryset, *, per_page: int, count_cap: int = 10_000,
                    key: str = "id", before: int | None = None, count_queryset=None) -> tuple[list, Pager]:
    """Rows of ``queryset`` (ordered by ``-key``) below ``before``, ``per_page`` of them, and a pager whose
    total is counted up to ``count_cap`` (one ``COUNT`` over at most that many rows of ``count_queryset``,
    by default ``queryset``: pass the plain one when ``queryset`` carries costly annotations)."""
    number = _number(params.get("page")) if before else 1
    page_qs = queryset.filter(**{f"{key}__lt": before}) if before else queryset
    rows = list(page_qs[: per_page + 1])
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    counted = (queryset if count_queryset is None else count_queryset).order_by()[: count_cap + 1].count()
    capped = counted > count_cap
    total = min(counted, count_cap)
    first_row = (number - 1) * per_page + 1 if rows else 0
    num_pages = None if capped else max(1, -(-total // per_page))
    pager = Pager(number=number, per_page=per_page, total=total, total_capped=capped, num_pages=num_pages,
                  first_url=query_with(params, before=None, page=None) if before else None,
                  next_url=query_with(params, before=getattr(rows[-1], key), page=number + 1) if has_next else None,
                  first_row=first_row, last_row=first_row + len(rows) - 1 if rows else 0)
    return rows, pager
