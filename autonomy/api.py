"""REST endpoints of the autonomy app (agent contract: ``/api/v1/autonomy/...``, ``/api/v1/readiness``)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import HasRole
from access.roles import ALL_ROLES
from autonomy import selectors
from autonomy.schemas import ReadinessOut


class Readiness(APIView):
    """The plan's exit criteria measured live from the database, and since when they have all held."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: ReadinessOut}, operation_id="readiness_retrieve",
                   summary="The readiness scorecard (Phase D): each exit criterion with observed value and threshold")
    def get(self, request):
        return Response(ReadinessOut.model_validate(selectors.readiness_get()).model_dump(mode="json"))
