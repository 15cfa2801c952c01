"""API input and output shapes. Inputs are validated here; the rules of a job's parameters
live in its runner (called by job_create), so the API, the pages and the CLI share them."""

from rest_framework import serializers

from annotation.models import ModelVariant
from annotation.validators import validate_server_url

from .models import Iteration, Job, ModelVersion
from .reports import snapshot_summary
from .runners import RUNNERS
from .selectors import batches_to_serve


class JobInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=sorted(RUNNERS))
    params = serializers.JSONField(required=False, default=dict)
    iteration = serializers.PrimaryKeyRelatedField(
        queryset=Iteration.objects.all(), required=False, allow_null=True, default=None
    )
    request_key = serializers.CharField(
        required=False, allow_blank=True, max_length=200, default=""
    )

    def validate_params(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("params must be a JSON object")
        return value


class JobOutputSerializer(serializers.ModelSerializer):
    iteration_name = serializers.CharField(source="iteration.name", default=None, read_only=True)
    created_by = serializers.CharField(source="created_by.get_username", default=None)
    log_tail = serializers.CharField(read_only=True)
    is_final = serializers.BooleanField(read_only=True)
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "state",
            "is_final",
            "iteration",
            "iteration_name",
            "queue",
            "params",
            "progress",
            "progress_detail",
            "metrics",
            "log_tail",
            "error",
            "data_snapshot",
            "output_dir",
            "attempts",
            "cancel_requested",
            "model_version",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_model_version(self, job: Job) -> int | None:
        version = getattr(job, "model_version", None)
        return version.pk if version else None


class IterationInputSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    start_policy = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.filter(kind=ModelVersion.Kind.POLICY),
        required=False,
        allow_null=True,
        default=None,
    )


class IterationOutputSerializer(serializers.ModelSerializer):
    job_count = serializers.IntegerField(read_only=True, default=0)
    active_jobs = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Iteration
        fields = [
            "id",
            "name",
            "number",
            "start_policy",
            "produced_policy",
            "notes",
            "job_count",
            "active_jobs",
            "created_at",
        ]
        read_only_fields = fields


class VersionOutputSerializer(serializers.ModelSerializer):
    iteration = serializers.IntegerField(source="job.iteration_id", default=None)
    data = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "kind",
            "name",
            "path",
            "parent",
            "job",
            "iteration",
            "judgments_through",
            "data_snapshot",
            "data",
            "created_at",
        ]
        read_only_fields = fields

    def get_data(self, version: ModelVersion) -> dict:
        summary = snapshot_summary(version.data_snapshot or {})
        return {
            "rows": summary.rows,
            "sha256": summary.sha256,
            "judgments_through": summary.judgments_through,
            "by_stage": summary.by_stage,
            "batches": summary.batches,
        }


class MetricsRowSerializer(serializers.Serializer):
    test_set = serializers.CharField()
    grade = serializers.CharField()
    accuracy_percent = serializers.FloatField(allow_null=True)


class VersionMetricsSerializer(serializers.Serializer):
    version = VersionOutputSerializer()
    metrics = serializers.JSONField()
    table8 = MetricsRowSerializer(many=True)


class ServeInputSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100, required=False, default="")
    batch = serializers.PrimaryKeyRelatedField(
        queryset=batches_to_serve(), required=False, allow_null=True, default=None
    )
    replace = serializers.BooleanField(required=False, default=False)
    backend = serializers.ChoiceField(
        choices=ModelVariant.Backend.values, required=False, default="transformers"
    )
    server_url = serializers.CharField(
        max_length=500,
        required=False,
        default="",
        allow_blank=True,
        validators=[validate_server_url],
    )
    model_name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class VariantOutputSerializer(serializers.ModelSerializer):
    batches = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = ModelVariant
        fields = [
            "id",
            "label",
            "backend",
            "model_path",
            "server_url",
            "model_name",
            "is_active",
            "batches",
        ]
        read_only_fields = fields
