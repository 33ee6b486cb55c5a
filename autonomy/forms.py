"""Forms of the control room (``/autonomy/``): they only parse what a page posts. Whether the change is
allowed (a reason given, agents only toward stricter states, an operator's strategy scope, the readiness
rule) is decided by the services, exactly as for the API."""
from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from autonomy.choices import SymbolMode, TradingStateChoice
from autonomy.models import SymbolControl
from autonomy.schemas import SYMBOL_PATTERN
from autonomy.services import CAP_FIELDS
from strategies.models import NAME_PATTERN


def _reason_field(label: str = "Reason") -> forms.CharField:
    # Not required here: the service refuses a missing reason with the message every door shows.
    return forms.CharField(label=label, required=False, strip=True, widget=forms.Textarea(attrs={"rows": 3}))


class TradingStateForm(forms.Form):
    strategy = forms.CharField(required=False, max_length=100,
                               validators=[RegexValidator(NAME_PATTERN, "Not a strategy name.")],
                               help_text="Empty: the global state.")
    state = forms.ChoiceField(choices=TradingStateChoice.choices)
    reason = _reason_field()


class LeanLaneForm(forms.Form):
    enabled = forms.TypedChoiceField(choices=[("true", "enable"), ("false", "disable")],
                                     coerce=lambda v: v == "true")
    reason = _reason_field()


class SymbolForm(forms.Form):
    LEAN_CHOICES = [("", "unchanged"), ("true", "allowed"), ("false", "not allowed")]

    symbol = forms.CharField(max_length=32, validators=[RegexValidator(SYMBOL_PATTERN, "Not a symbol.")])
    mode = forms.ChoiceField(choices=SymbolMode.choices)
    health_reason = forms.CharField(label="Health reason", required=False, max_length=2000,
                                    help_text="Empty: the reason below.")
    lean_allowed = forms.TypedChoiceField(label="LEAN allowlist", choices=LEAN_CHOICES, required=False,
                                          coerce=lambda v: v == "true", empty_value=None)
    reason = _reason_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in CAP_FIELDS:  # the column's precision, positive; empty removes the cap
            field = SymbolControl._meta.get_field(name).formfield(required=False)
            field.validators.append(_positive)
            self.fields[name] = field

    def caps(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in CAP_FIELDS}


def _positive(value) -> None:
    if value is not None and value <= 0:
        raise forms.ValidationError("Must be greater than 0 (empty: no cap).")


class AcknowledgeForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class SymbolFilterForm(forms.Form):
    """The symbol grid's filters: text in the symbol or its health reason, and the mode."""

    q = forms.CharField(label="Symbol or reason contains", required=False, max_length=100)
    mode = forms.ChoiceField(label="Mode", required=False, choices=[("", "any"), *SymbolMode.choices])
