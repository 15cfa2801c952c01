from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from .exports import ExportFilters, export_job_create
from .imports import ImportFailed, comparisons_import, prompts_import
from .models import (
    Assignment,
    Dialogue,
    ExportJob,
    Judgment,
    ModelVariant,
    Prompt,
    PromptBatch,
    Response,
    ResponsePair,
)
from .selectors import batches_with_counts
from .services import batch_close, batch_open
from .validators import validate_dialogue, validate_storable_json

# Every JSON field edited in the admin holds only what both databases store; a dialogue field
# that is a prompt or context also follows the dialogue reader's rules (what imports and the ML
# cores accept).
STORABLE_JSON = {models.JSONField: {"validators": [validate_storable_json]}}


class StorableJSONAdmin(admin.ModelAdmin):
    formfield_overrides = STORABLE_JSON
    dialogue_fields: tuple[str, ...] = ()  # prompts and contexts: end on a user turn

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in self.dialogue_fields:
            field.validators.append(validate_dialogue)
        return field


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("prompts", "Prompts (CSV or JSONL)"), ("comparisons", "Comparisons (HH JSONL)")]
    )
    file = forms.FileField(help_text=".jsonl, .jsonl.gz, .ndjson, .csv or .csv.gz, UTF-8")


@admin.register(PromptBatch)
class PromptBatchAdmin(StorableJSONAdmin):
    list_display = ["name", "stage", "status", "prompts", "generation", "progress", "pages"]
    list_filter = ["stage", "status", "prompt_source"]
    search_fields = ["name"]
    filter_horizontal = ["variants"]
    readonly_fields = ["overview", "created_at", "opened_at", "closed_at", "created_by"]
    actions = ["open_batches", "close_batches", "export_batches_trl", "export_batches_full"]
    change_form_template = "admin/annotation/promptbatch/change_form.html"

    def get_queryset(self, request):
        return batches_with_counts(super().get_queryset(request))

    def _counted(self, batch: PromptBatch) -> PromptBatch:
        if not hasattr(batch, "judged_count"):  # a change page's object comes without them
            batch = batches_with_counts(PromptBatch.objects.filter(pk=batch.pk)).get()
        return batch

    @admin.display(description="Prompts", ordering="prompt_count")
    def prompts(self, batch: PromptBatch) -> int:
        return self._counted(batch).prompt_count

    @admin.display(description="Generation")
    def generation(self, batch: PromptBatch) -> str:
        b = self._counted(batch)
        text = f"{b.ready_count} ready · {b.coming_count} on the way"
        return f"{text} · {b.failed_count} failed" if b.failed_count else text

    @admin.display(description="Progress", ordering="judged_count")
    def progress(self, batch: PromptBatch):
        b = self._counted(batch)
        return format_html(
            '<progress max="{}" value="{}"></progress> {} / {} judged',
            max(b.target_comparisons, 1),
            min(b.judged_count, b.target_comparisons),
            b.judged_count,
            b.target_comparisons,
        )

    @admin.display(description="Pages")
    def pages(self, batch: PromptBatch):
        links = [format_html('<a href="{}">Quality</a>', reverse("batch-quality", args=[batch.pk]))]
        if batch.is_open:
            url = reverse("workspace", args=[batch.pk])
            links.append(format_html('<a href="{}">Workspace</a>', url))
        return format_html_join(" · ", "{}", ((link,) for link in links))

    @admin.display(description="Overview")
    def overview(self, batch: PromptBatch):
        if not batch.pk:
            return "–"
        b = self._counted(batch)
        return format_html(
            "{} prompts · {} · {} · {}",
            b.prompt_count,
            self.generation(b),
            self.progress(b),
            self.pages(b),
        )

    @admin.action(description="Open the selected batches")
    def open_batches(self, request, queryset):
        for batch in queryset:
            batch_open(batch=batch)
        self.message_user(request, f"Opened {queryset.count()} batches.")

    @admin.action(description="Close the selected batches")
    def close_batches(self, request, queryset):
        for batch in queryset:
            batch_close(batch=batch)
        self.message_user(request, f"Closed {queryset.count()} batches.")

    def _export(self, request, queryset, fmt: str) -> None:
        filters = ExportFilters(batch_ids=list(queryset.values_list("pk", flat=True)))
        job = export_job_create(user=request.user, filters=filters, fmt=fmt)
        url = reverse("admin:annotation_exportjob_change", args=[job.pk])
        self.message_user(request, f"Export {job.pk} queued; it appears at {url} when done.")

    @admin.action(description="Export judgments (TRL form, reward-model data)")
    def export_batches_trl(self, request, queryset):
        self._export(request, queryset, "trl")

    @admin.action(description="Export judgments (full form)")
    def export_batches_full(self, request, queryset):
        self._export(request, queryset, "full")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self):
        extra = [
            path(
                "<int:batch_id>/import/",
                self.admin_site.admin_view(self.import_view),
                name="annotation_promptbatch_import",
            ),
            path(
                "<int:batch_id>/open/",
                self.admin_site.admin_view(self.open_view),
                name="annotation_promptbatch_open",
            ),
            path(
                "<int:batch_id>/close/",
                self.admin_site.admin_view(self.close_view),
                name="annotation_promptbatch_close",
            ),
        ]
        return extra + super().get_urls()

    def _transition(self, request: HttpRequest, batch_id: int, service, done: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        batch = get_object_or_404(PromptBatch, pk=batch_id)
        if not self.has_change_permission(request, batch):
            raise PermissionDenied
        batch = service(batch=batch)
        messages.success(request, f"{batch.name} is {done}.")
        return HttpResponseRedirect(reverse("admin:annotation_promptbatch_change", args=[batch.pk]))

    def open_view(self, request: HttpRequest, batch_id: int):
        return self._transition(request, batch_id, batch_open, "open: annotators can judge it")

    def close_view(self, request: HttpRequest, batch_id: int):
        return self._transition(request, batch_id, batch_close, "closed")

    def import_view(self, request: HttpRequest, batch_id: int):
        batch = get_object_or_404(PromptBatch, pk=batch_id)
        if not self.has_change_permission(request, batch):
            return HttpResponseRedirect(reverse("admin:index"))
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            run = prompts_import if form.cleaned_data["kind"] == "prompts" else comparisons_import
            try:
                result = run(batch=batch, stream=upload, filename=upload.name, user=request.user)
            except ImportFailed as exc:
                for error in exc.errors:
                    form.add_error("file", str(error))
            else:
                messages.success(request, f"Imported {result.created} records into {batch}.")
                return HttpResponseRedirect(
                    reverse("admin:annotation_promptbatch_change", args=[batch.pk])
                )
        context = {**self.admin_site.each_context(request), "form": form, "batch": batch}
        context["opts"] = self.model._meta
        return render(request, "admin/annotation/promptbatch/import.html", context)


@admin.register(Prompt)
class PromptAdmin(StorableJSONAdmin):
    dialogue_fields = ("messages",)
    list_display = ["id", "batch", "external_id", "source", "risk_category", "created_at"]
    list_filter = ["source", "batch__stage", "risk_category", "attack_vector"]
    search_fields = ["external_id", "messages"]
    raw_id_fields = ["batch", "created_by"]


@admin.register(Dialogue)
class DialogueAdmin(StorableJSONAdmin):
    list_display = ["id", "batch", "annotator", "turns", "status", "created_at"]
    list_filter = ["status", "batch"]
    search_fields = ["annotator__username"]
    raw_id_fields = ["batch", "prompt", "annotator"]


@admin.register(ModelVariant)
class ModelVariantAdmin(StorableJSONAdmin):
    list_display = [
        "label",
        "backend",
        "model_name",
        "server_url",
        "model_path",
        "temperature",
        "is_active",
    ]
    list_filter = ["backend", "is_active"]
    search_fields = ["label", "model_name", "model_path"]


@admin.register(Response)
class ResponseAdmin(StorableJSONAdmin):
    list_display = ["id", "variant_label", "temperature", "seed", "completion_tokens"]
    list_filter = ["variant_label", "finish_reason"]
    search_fields = ["text"]
    raw_id_fields = ["variant"]


@admin.register(ResponsePair)
class ResponsePairAdmin(StorableJSONAdmin):
    dialogue_fields = ("context",)
    list_display = ["id", "batch", "turn", "status", "origin", "taken", "overlap", "is_gold"]
    list_filter = ["status", "origin", "is_gold", "batch__stage", "batch"]
    search_fields = ["id", "last_error"]
    raw_id_fields = ["batch", "prompt", "dialogue", "response_a", "response_b"]
    readonly_fields = ["attempts", "last_error", "generated_at", "created_at"]


@admin.register(Assignment)
class AssignmentAdmin(StorableJSONAdmin):
    list_display = ["id", "pair", "annotator", "status", "leased_at", "expires_at"]
    list_filter = ["status"]
    search_fields = ["annotator__username"]
    raw_id_fields = ["pair", "annotator"]


@admin.register(Judgment)
class JudgmentAdmin(StorableJSONAdmin):
    list_display = ["id", "pair", "annotator", "origin", "chosen", "grade", "safety_bin"]
    list_filter = ["origin", "grade", "safety_bin", "pair__batch__stage", "pair__batch"]
    search_fields = ["annotator__username", "rationale"]
    raw_id_fields = ["pair", "assignment", "annotator"]
    readonly_fields = ["safety_bin", "created_at"]


@admin.register(ExportJob)
class ExportJobAdmin(StorableJSONAdmin):
    list_display = ["id", "format", "state", "rows", "attempts", "created_at", "finished_at"]
    list_filter = ["state", "format"]
    readonly_fields = [f.name for f in ExportJob._meta.fields]

    def has_add_permission(self, request):
        return False
