from django.urls import path

from . import apis

urlpatterns = [
    path("batches/", apis.BatchListApi.as_view(), name="api-batches"),
    path("batches/<int:pk>/", apis.BatchDetailApi.as_view(), name="api-batch"),
    path(
        "batches/<int:pk>/open/",
        apis.BatchTransitionApi.as_view(transition="open"),
        name="api-batch-open",
    ),
    path(
        "batches/<int:pk>/close/",
        apis.BatchTransitionApi.as_view(transition="close"),
        name="api-batch-close",
    ),
    path("batches/<int:pk>/prompts/", apis.BatchPromptsApi.as_view(), name="api-batch-prompts"),
    path("batches/<int:pk>/imports/", apis.BatchImportApi.as_view(), name="api-batch-import"),
    path("pairs/", apis.PairListApi.as_view(), name="api-pairs"),
    path("judgments/", apis.JudgmentListApi.as_view(), name="api-judgments"),
    path("exports/comparisons/", apis.ExportStreamApi.as_view(), name="api-export-stream"),
    path("exports/", apis.ExportJobListApi.as_view(), name="api-exports"),
    path("exports/<int:pk>/", apis.ExportJobDetailApi.as_view(), name="api-export"),
    path(
        "exports/<int:pk>/download/", apis.ExportDownloadApi.as_view(), name="api-export-download"
    ),
]
