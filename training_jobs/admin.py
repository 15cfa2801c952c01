from django.contrib import admin, messages

from annotation.admin import StorableJSONAdmin

from .models import Iteration, Job, ModelVersion
from .services import JobError, job_cancel, job_retry


@admin.register(Iteration)
class IterationAdmin(StorableJSONAdmin):
    list_display = ["name", "number", "start_policy", "produced_policy", "created_at"]
    search_fields = ["name", "notes"]
    raw_id_fields = ["start_policy", "produced_policy", "created_by"]


@admin.register(Job)
class JobAdmin(StorableJSONAdmin):
    list_display = [
        "id",
        "kind",
        "state",
        "progress",
        "iteration",
        "queue",
        "attempts",
        "created_at",
    ]
    list_filter = ["state", "kind", "queue"]
    search_fields = ["id", "error", "request_key"]
    raw_id_fields = ["iteration", "created_by"]
    readonly_fields = [
        "state",
        "progress",
        "progress_detail",
        "log",
        "error",
        "data_snapshot",
        "output_dir",
        "attempts",
        "sends",
        "worker_host",
        "worker_pid",
        "heartbeat_at",
        "queued_at",
        "enqueued_at",
        "started_at",
        "finished_at",
    ]
    actions = ["cancel_jobs", "retry_jobs"]

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset):
        for job in queryset:
            job_cancel(job=job)
        self.message_user(request, "Cancel requested.")

    @admin.action(description="Retry the selected failed or cancelled jobs")
    def retry_jobs(self, request, queryset):
        for job in queryset:
            try:
                job_retry(job=job)
            except JobError as exc:
                self.message_user(request, str(exc), level=messages.WARNING)


@admin.register(ModelVersion)
class ModelVersionAdmin(StorableJSONAdmin):
    list_display = ["name", "kind", "parent", "job", "judgments_through", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "path"]
    raw_id_fields = ["parent", "job"]
