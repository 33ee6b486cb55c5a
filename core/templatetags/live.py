"""``{% live_region %}``: the attributes of a page's live region (see ``core.live``)."""
from django import template
from django.utils.html import format_html

from core.live import REGION_ID

register = template.Library()


@register.simple_tag(takes_context=True)
def live_region(context, label: str = "figures", url: str = "") -> str:
    """``id``, the htmx polling of ``url`` (the page's own address by default), and what ``live.js`` needs.
    The poll waits while a dialog is open (an operator confirming a change) and refreshes at once when it
    closes."""
    request = context["request"]
    seconds = context.get("live_seconds", 5)
    return format_html(
        'id="{}" class="live" data-live data-live-seconds="{}" data-live-label="{}" hx-get="{}" '
        'hx-trigger="every {}s [window.torghutLive && torghutLive.mayRefresh()], live:refresh" hx-swap="innerHTML"',
        REGION_ID, seconds, label, url or request.get_full_path(), seconds)


@register.inclusion_tag("live/_status.html", takes_context=True)
def live_status(context) -> dict:
    """The line that says when the live region last updated (and, from ``live.js``, when it stalls)."""
    return {"live_at": context.get("live_at"), "live_seconds": context.get("live_seconds", 5)}
