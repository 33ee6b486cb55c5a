from django import template

from access.selectors import can_view_audit

register = template.Library()


@register.filter
def may_view_audit(user) -> bool:
    return can_view_audit(user)
