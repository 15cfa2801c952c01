from django.urls import path

from . import apis

urlpatterns = [
    path("iterations/", apis.IterationListApi.as_view(), name="api-iterations"),
    path("jobs/", apis.JobListApi.as_view(), name="api-jobs"),
    path("jobs/<int:pk>/", apis.JobDetailApi.as_view(), name="api-job"),
    path("jobs/<int:pk>/cancel/", apis.JobCancelApi.as_view(), name="api-job-cancel"),
    path("jobs/<int:pk>/retry/", apis.JobRetryApi.as_view(), name="api-job-retry"),
    path("versions/", apis.VersionListApi.as_view(), name="api-versions"),
    path("versions/<int:pk>/serve/", apis.VersionServeApi.as_view(), name="api-version-serve"),
    path(
        "versions/<int:pk>/metrics/", apis.VersionMetricsApi.as_view(), name="api-version-metrics"
    ),
]
