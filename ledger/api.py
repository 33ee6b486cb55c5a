"""REST endpoints of the research ledger (agent contract: ``/api/v1/research/runs``)."""
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from access.permissions import HasRole
from access.roles import ALL_ROLES, Role
from ledger import selectors, services
from ledger.filters import RunFilter
from ledger.models import ResearchRun
from ledger.schemas import ResearchRunV1
from ledger.serializers import RunCreatedSerializer, RunSerializer


class RunListCreate(generics.ListAPIView):
    """List stored runs (filters shared with the runs page) or store one complete run."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES, "POST": {Role.RESEARCHER, Role.AGENT}}
    serializer_class = RunSerializer
    filterset_class = RunFilter

    def get_queryset(self):
        return selectors.run_list()

    @extend_schema(
        request=ResearchRunV1,
        responses={201: RunCreatedSerializer, 200: RunCreatedSerializer,
                   400: OpenApiResponse(description="invalid artifact; details.fields names field paths"),
                   409: OpenApiResponse(description="run_conflict: same run_id, different body")},
        summary="Store one complete research run (idempotent on identical bodies)",
    )
    def post(self, request):
        result = services.run_ingest(body=request.data, actor=request.user.get_username())
        payload = RunCreatedSerializer({"run_id": result.run.run_id, "artifact_sha256": result.artifact_sha256,
                                        "candidate_ids": result.candidate_ids}).data
        return Response(payload, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class RunDetail(generics.RetrieveAPIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    serializer_class = RunSerializer
    lookup_field = "run_id"

    def get_object(self):
        try:
            return selectors.run_get(run_id=self.kwargs["run_id"])
        except ResearchRun.DoesNotExist:
            raise Http404 from None
