"""The browsable API (DEBUG only): DRF's HTML view of an endpoint, for a logged-in browser."""
from __future__ import annotations

from rest_framework import renderers


def _has_serializer(view) -> bool:
    """Whether DRF can build a serializer for the view: most views here take pydantic models and have none."""
    if getattr(view, "serializer_class", None) is not None:
        return True
    from rest_framework.generics import GenericAPIView  # here: DRF imports the renderers first

    get_class = getattr(type(view), "get_serializer_class", None)
    return get_class is not None and get_class is not GenericAPIView.get_serializer_class


class _NoSerializer:
    """Stands in for a view without a serializer while DRF builds its forms: the raw JSON form stays
    (empty), and no HTML form is asked of a serializer that does not exist (DRF would assert: a 500)."""

    def __init__(self, view):
        object.__setattr__(self, "_view", view)

    def __getattr__(self, name):
        if name in ("get_serializer", "serializer_class"):
            raise AttributeError(name)
        return getattr(self._view, name)

    def __setattr__(self, name, value):  # DRF's override_method sets view.request and view.action
        setattr(self._view, name, value)


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    def get_rendered_html_form(self, data, view, method, request):
        return super().get_rendered_html_form(data, view if _has_serializer(view) else _NoSerializer(view),
                                              method, request)

    def get_raw_data_form(self, data, view, method, request):
        return super().get_raw_data_form(data, view if _has_serializer(view) else _NoSerializer(view),
                                         method, request)
