"""What ``OPTIONS`` answers on API views (DRF's ``DEFAULT_METADATA_CLASS``)."""
from rest_framework.metadata import SimpleMetadata


class ApiMetadata(SimpleMetadata):
    """The view's name, description and media types; the allowed methods are in the ``Allow``
    header. Views take pydantic models, not DRF serializers, so there are no serializer
    "actions" to describe (DRF's default asserted a ``serializer_class`` and answered 500)."""

    def determine_actions(self, request, view):
        return {}
