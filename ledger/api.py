"""REST endpoints of the research ledger (agent contract: ``/api/v1/research/runs``)."""
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from access.permissions import HasRole
from access.roles import ALL_ROLES, Role
from core.openapi import error_response
from ledger import selectors, services
from ledger.filters import RunFilter
from ledger.models import ResearchRun
from ledger.schemas import ResearchRunV1, RunCreatedV1, StoredRunV1
from ledger.serializers import runs_representation


class RunListCreate(generics.ListCreateAPIView):
    """List stored runs (filters shared with the runs page) or store one complete run."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES, "POST": {Role.RESEARCHER, Role.AGENT}}
    filterset_class = RunFilter
    queryset = ResearchRun.objects.none()

    def get_queryset(self):
        return selectors.run_list()

    @extend_schema(
        responses={200: StoredRunV1},
        operation_id="research_runs_list",
        summary="List stored runs, newest first, candidates with folds and stress included",
    )
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(runs_representation(page))

    @extend_schema(
        request=ResearchRunV1,
        responses={201: RunCreatedV1, 200: RunCreatedV1,
                   400: error_response("`invalid_artifact`: the artifact does not validate (`details.fields` names "
                                       "field paths, e.g. `candidates[0].folds[2].test_start`); `invalid_json`, "
                                       "`duplicate_key`: the body is not well-formed JSON"),
                   409: error_response("`run_conflict`: this run_id is stored with a different body; "
                                       "`candidate_conflict`: a candidate_id belongs to another run; "
                                       "`feature_snapshot_conflict`: the feature snapshot is stored with another "
                                       "spec")},
        operation_id="research_runs_create",
        summary="Store one complete research run (idempotent on identical bodies)",
    )
    def post(self, request):
        result = services.run_ingest(body=request.data, actor=request.user.get_username())
        payload = {"run_id": result.run.run_id, "artifact_sha256": result.artifact_sha256,
                   "candidate_ids": result.candidate_ids}
        return Response(payload, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class RunDetail(generics.GenericAPIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    queryset = ResearchRun.objects.none()

    @extend_schema(responses={200: StoredRunV1}, operation_id="research_runs_retrieve",
                   summary="One stored run, exactly as accepted")
    def get(self, request, run_id: str):
        try:
            run = selectors.run_get(run_id=run_id)
        except ResearchRun.DoesNotExist:
            raise Http404 from None
        return Response(runs_representation([run])[0])
