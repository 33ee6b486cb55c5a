"""Login forms that throttle failed logins per username and address."""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from access.middleware import annotate, client_ip
from access.services import login_failure_record, login_failures_clear, login_locked_out


class ThrottledLoginMixin:
    locked_out = False

    def clean(self):
        username = (self.data.get("username") or "").strip()
        ip = client_ip(self.request) if self.request is not None else None
        if username and login_locked_out(username=username, ip=ip):
            self.locked_out = True
            if self.request is not None:
                annotate(self.request, action="login", outcome="refused", reason="locked_out", username=username)
            minutes = max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
            raise forms.ValidationError(
                f"Too many failed logins for this account from your address. Try again in {minutes} minutes.",
                code="locked_out")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if username:
                login_failure_record(username=username, ip=ip)
            if self.request is not None:
                annotate(self.request, action="login", outcome="refused", reason="bad_credentials",
                         username=username)
            raise
        if username:
            login_failures_clear(username=username, ip=ip)
        if self.request is not None:
            annotate(self.request, action="login", username=username)
        return cleaned


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass
