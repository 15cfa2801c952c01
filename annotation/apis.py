"""REST API: each view validates input, calls one service or selector, and serialises.
Errors (invalid input, a refused import, a role) are answered by config/exception_handlers."""

from django.conf import settings
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.artifacts import artifact_path

from . import selectors, services
from .exports import ExportFilters, comparisons_count, comparisons_export_lines, export_job_create
from .filters import BatchFilter, JudgmentFilter, PairFilter
from .imports import comparisons_import, prompts_import
from .models import ExportJob, Prompt
from .permissions import IsAdminRole, IsMLEngineerOrAdmin, ReadOnlyForMLEngineersWriteForAdmins
from .serializers import (
    BatchSerializer,
    ExportInputSerializer,
    ExportJobSerializer,
    ImportInputSerializer,
    ImportResultSerializer,
    JudgmentSerializer,
    PairSerializer,
    PromptBulkInputSerializer,
    PromptSerializer,
)


class BatchListApi(generics.ListCreateAPIView):
    serializer_class = BatchSerializer
    permission_classes = [ReadOnlyForMLEngineersWriteForAdmins]
    filterset_class = BatchFilter

    def get_queryset(self):
        return selectors.batches_visible_to(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.batch_create(
            user=self.request.user, **serializer.validated_data
        )


class BatchDetailApi(generics.RetrieveUpdateAPIView):
    serializer_class = BatchSerializer
    permission_classes = [ReadOnlyForMLEngineersWriteForAdmins]

    def get_queryset(self):
        return selectors.batches_visible_to(self.request.user)

    def perform_update(self, serializer):
        serializer.instance = services.batch_update(
            batch=serializer.instance, **serializer.validated_data
        )


class BatchTransitionApi(APIView):
    permission_classes = [IsAdminRole]
    transition = ""

    @extend_schema(request=None, responses=BatchSerializer)
    def post(self, request: Request, pk: int) -> Response:
        batch = get_object_or_404(selectors.batches_visible_to(request.user), pk=pk)
        action = services.batch_open if self.transition == "open" else services.batch_close
        return Response(BatchSerializer(action(batch=batch)).data)


class BatchPromptsApi(generics.ListAPIView):
    serializer_class = PromptSerializer
    permission_classes = [IsMLEngineerOrAdmin]

    def get_batch(self):
        return get_object_or_404(
            selectors.batches_visible_to(self.request.user), pk=self.kwargs["pk"]
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no batch
            return Prompt.objects.none()
        return selectors.prompts_of_batch(self.get_batch())

    @extend_schema(request=PromptBulkInputSerializer, responses={201: PromptSerializer(many=True)})
    def post(self, request: Request, pk: int) -> Response:
        if not IsAdminRole().has_permission(request, self):
            self.permission_denied(request, message=IsAdminRole.message)
        data = PromptBulkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.prompts_bulk_create(
            batch=self.get_batch(), records=data.validated_data["prompts"], user=request.user
        )
        return Response(PromptSerializer(created, many=True).data, status=status.HTTP_201_CREATED)


class BatchImportApi(APIView):
    permission_classes = [IsAdminRole]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=ImportInputSerializer, responses={201: ImportResultSerializer})
    def post(self, request: Request, pk: int) -> Response:
        batch = get_object_or_404(selectors.batches_visible_to(request.user), pk=pk)
        data = ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        run = prompts_import if data.validated_data["kind"] == "prompts" else comparisons_import
        result = run(batch=batch, stream=upload, filename=upload.name, user=request.user)
        return Response({"batch": batch.pk, "created": result.created}, status=201)


class PairListApi(generics.ListAPIView):
    serializer_class = PairSerializer
    permission_classes = [IsMLEngineerOrAdmin]
    filterset_class = PairFilter

    def get_queryset(self):
        return selectors.pairs_list()


class JudgmentListApi(generics.ListAPIView):
    serializer_class = JudgmentSerializer
    permission_classes = [IsMLEngineerOrAdmin]
    filterset_class = JudgmentFilter

    def get_queryset(self):
        return selectors.judgments_list()


def _filters(data: dict) -> ExportFilters:
    return ExportFilters(
        stage=data.get("stage"),
        batch_ids=data.get("batch") or [],
        since=data.get("since"),
        until=data.get("until"),
        for_reward_model=not data.get("include_excluded"),
    )


class ExportStreamApi(APIView):
    """Stream a small export directly; a large one must be run as a job (POST /api/exports/)."""

    permission_classes = [IsMLEngineerOrAdmin]

    @extend_schema(parameters=[ExportInputSerializer], responses={200: None})
    def get(self, request: Request):
        params = {**request.query_params.dict(), "batch": request.query_params.getlist("batch")}
        data = ExportInputSerializer(data=params)
        data.is_valid(raise_exception=True)
        filters = _filters(data.validated_data)
        limit = settings.MARGIN["SYNC_EXPORT_MAX_ROWS"]
        if comparisons_count(filters) > limit:
            return Response(
                {"detail": f"More than {limit} rows: POST /api/exports/ to run it as a job."},
                status=status.HTTP_409_CONFLICT,
            )
        lines = comparisons_export_lines(
            filters=filters,
            fmt=data.validated_data["format"],
            margin_table=data.validated_data["margin"],
        )
        response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
        response["Content-Disposition"] = 'attachment; filename="comparisons.jsonl"'
        return response


class ExportJobListApi(APIView):
    permission_classes = [IsMLEngineerOrAdmin]

    @extend_schema(responses=ExportJobSerializer(many=True))
    def get(self, request: Request) -> Response:
        jobs = selectors.export_jobs()[:100]
        return Response(ExportJobSerializer(jobs, many=True, context={"request": request}).data)

    @extend_schema(request=ExportInputSerializer, responses={202: ExportJobSerializer})
    def post(self, request: Request) -> Response:
        data = ExportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = export_job_create(
            user=request.user,
            filters=_filters(data.validated_data),
            fmt=data.validated_data["format"],
            margin_table=data.validated_data["margin"],
        )
        body = ExportJobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ExportJobDetailApi(generics.RetrieveAPIView):
    serializer_class = ExportJobSerializer
    permission_classes = [IsMLEngineerOrAdmin]

    def get_queryset(self):
        return selectors.export_jobs()


class ExportDownloadApi(APIView):
    permission_classes = [IsMLEngineerOrAdmin]

    @extend_schema(responses={200: None})
    def get(self, request: Request, pk: int):
        job = get_object_or_404(ExportJob, pk=pk, state=ExportJob.Status.SUCCEEDED)
        path = artifact_path(job.path)
        if not path.is_file():
            raise Http404("The export file is gone.")
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=path.name,
            content_type="application/x-ndjson",
        )
