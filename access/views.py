"""Pages of the access app: the auditors' view of the audit trail, its CSV export, and login."""
from __future__ import annotations

import csv
import json

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from access.choices import Via
from access.filters import AuditEventFilter
from access.forms import ThrottledAuthenticationForm
from access.selectors import audit_event_list, can_view_audit, user_roles
from access.services import audit_record
from core.pagination import paginate
from core.ranges import ALL, RangeForm, picker, ranged_filterset

CSV_COLUMNS = ["id", "at", "actor", "actor_roles", "via", "method", "path", "action", "object_ref",
               "request_id", "outcome", "status_code", "client_ip", "details"]


class LoginView(auth_views.LoginView):
    """The site's login: failed attempts are counted and locked out (answered with 429)."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if getattr(form, "locked_out", False):
            response.status_code = 429
        return response


def _require_auditor(request) -> None:
    if not can_view_audit(request.user):
        raise PermissionDenied("The audit trail is for auditors.")


def _audit_filtered(params):
    """The audit trail as the page's filters and range picker ask (nothing while one of them is invalid)."""
    window = RangeForm(params, default=ALL, allow_all=True)
    filterset = ranged_filterset(AuditEventFilter, params, queryset=audit_event_list())
    valid = filterset.is_valid() and window.is_valid()
    qs = window.window.filter(filterset.qs, "at") if valid else audit_event_list().none()
    return window, filterset, qs, valid


@login_required
def audit_list(request):
    _require_auditor(request)
    window, filterset, qs, valid = _audit_filtered(request.GET)
    rows, pager = paginate(request.GET, qs, per_page=50)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "access/audit_list.html",
                  {"filter": filterset, "picker": picker(window, request.GET), "valid": valid, "page": rows,
                   "pager": pager, "query": query.urlencode()}, status=200 if valid else 400)


class _Echo:
    def write(self, value):
        return value


@login_required
def audit_export(request):
    _require_auditor(request)
    qs = _audit_filtered(request.GET)[2]
    audit_record(actor=request.user.get_username(), actor_roles=user_roles(request.user), via=Via.PAGE,
                 method=request.method, path=request.get_full_path()[:500], action="audit_export",
                 request_id=getattr(request, "request_id", None), status_code=200,
                 details={"filters": {k: v for k, v in request.GET.items()}})
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for event in qs.values_list(*CSV_COLUMNS).iterator(chunk_size=2000):
            row = list(event)
            row[1] = row[1].isoformat()
            row[3] = " ".join(row[3])
            row[13] = json.dumps(row[13], sort_keys=True)
            yield writer.writerow(row)

    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
