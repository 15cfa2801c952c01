"""REST API of iterations, jobs and model versions (ML engineers and admins only).

Each view validates with an InputSerializer, calls one service or selector and returns an
OutputSerializer. Anyone else gets 403 (signed in) or 401 (anonymous). Errors are answered by
config/exception_handlers: invalid input 400, a JobError (the job's or version's state does
not allow it) 409."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.permissions import IsMLEngineerOrAdmin

from . import reports, selectors
from .filters import JobFilter, VersionFilter
from .serializers import (
    IterationInputSerializer,
    IterationOutputSerializer,
    JobInputSerializer,
    JobOutputSerializer,
    ServeInputSerializer,
    VariantOutputSerializer,
    VersionMetricsSerializer,
    VersionOutputSerializer,
)
from .services import (
    iteration_create,
    job_cancel,
    job_create,
    job_retry,
    policy_serve,
)


class JobListApi(generics.ListAPIView):
    permission_classes = [IsMLEngineerOrAdmin]
    serializer_class = JobOutputSerializer
    filterset_class = JobFilter

    def get_queryset(self):
        return selectors.jobs_list(user=self.request.user).select_related("model_version")

    @extend_schema(request=JobInputSerializer, responses={202: JobOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = JobInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = job_create(
            kind=data["kind"],
            params=data["params"],
            iteration=data["iteration"],
            user=request.user,
            request_key=data["request_key"] or None,
        )
        # Accepted: the job is queued (the row is committed; it runs when a worker takes it,
        # also when the broker is down right now).
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsMLEngineerOrAdmin]
    serializer_class = JobOutputSerializer

    def get_queryset(self):
        return selectors.jobs_visible_to(self.request.user)


class JobCancelApi(APIView):
    permission_classes = [IsMLEngineerOrAdmin]

    @extend_schema(request=None, responses={200: JobOutputSerializer})
    def post(self, request: Request, pk: int) -> Response:
        job = get_object_or_404(selectors.jobs_visible_to(request.user), pk=pk)
        return Response(JobOutputSerializer(job_cancel(job=job)).data)


class JobRetryApi(APIView):
    permission_classes = [IsMLEngineerOrAdmin]

    @extend_schema(request=None, responses={200: JobOutputSerializer, 409: None})
    def post(self, request: Request, pk: int) -> Response:
        job = get_object_or_404(selectors.jobs_visible_to(request.user), pk=pk)
        return Response(JobOutputSerializer(job_retry(job=job)).data)


class IterationListApi(generics.ListAPIView):
    permission_classes = [IsMLEngineerOrAdmin]
    serializer_class = IterationOutputSerializer

    def get_queryset(self):
        return selectors.iterations_visible_to(self.request.user)

    @extend_schema(request=IterationInputSerializer, responses={201: IterationOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = IterationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        iteration = iteration_create(user=request.user, **serializer.validated_data)
        return Response(IterationOutputSerializer(iteration).data, status=status.HTTP_201_CREATED)


class VersionListApi(generics.ListAPIView):
    permission_classes = [IsMLEngineerOrAdmin]
    serializer_class = VersionOutputSerializer
    filterset_class = VersionFilter

    def get_queryset(self):
        return selectors.versions_visible_to(self.request.user)


class VersionMetricsApi(APIView):
    permission_classes = [IsMLEngineerOrAdmin]

    @extend_schema(responses={200: VersionMetricsSerializer})
    def get(self, request: Request, pk: int) -> Response:
        version = get_object_or_404(selectors.versions_visible_to(request.user), pk=pk)
        table = reports.table8([version])
        cells = table.rows[0].cells if table.rows else []
        rows = [
            {"test_set": test, "grade": grade, "accuracy_percent": value}
            for (test, grade), value in zip(table.columns, cells, strict=True)
        ]
        payload = {"version": version, "metrics": version.metrics, "table8": rows}
        return Response(VersionMetricsSerializer(payload).data)


class VersionServeApi(APIView):
    """Make a succeeded policy a serving variant, optionally of a batch (409 when it cannot)."""

    permission_classes = [IsMLEngineerOrAdmin]

    @extend_schema(
        request=ServeInputSerializer, responses={200: VariantOutputSerializer, 409: None}
    )
    def post(self, request: Request, pk: int) -> Response:
        version = get_object_or_404(selectors.versions_visible_to(request.user), pk=pk)
        serializer = ServeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        variant = policy_serve(version=version, **serializer.validated_data)
        return Response(VariantOutputSerializer(variant).data)
