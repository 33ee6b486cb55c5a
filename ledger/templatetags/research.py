"""Template helpers of the research pages: metric names with their definitions, sortable headers."""
from django import template
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from ledger.metrics import METRICS, parameters_label

register = template.Library()


@register.simple_tag
def metric(key: str):
    """The metric's one name, its definition on hover."""
    m = METRICS[key]
    return format_html('<abbr title="{}">{}</abbr>', m.definition, m.label)


@register.simple_tag(takes_context=True)
def sort_header(context, key: str, metric_key: str = ""):
    """A column header that sorts the runs list by ``key`` (descending first, then ascending)."""
    current = context.get("sort") or "-created"
    target = key if current == f"-{key}" else f"-{key}"
    arrow = {f"-{key}": " ↓", key: " ↑"}.get(current, "")
    hint = "" if arrow else mark_safe(' <span class="sort-hint" aria-hidden="true">↕</span>')
    base = context.get("sort_query", "")
    href = "?" + (f"{base}&" if base else "") + urlencode({"sort": target})
    m = METRICS.get(metric_key or key)
    label = m.label if m else "Stored"
    title = m.definition if m else "When the run was stored"
    return format_html('<a class="sort{}" href="{}" title="{}">{}{}{}</a>',
                       " active" if arrow else "", href, title, label, arrow, hint)


@register.filter
def params_label(parameter_set) -> str:
    return parameters_label(parameter_set)
