from django.urls import path

from .web import views

urlpatterns = [
    path("iterations/", views.iterations, name="iterations"),
    path("iterations/new/", views.iteration_new, name="iteration-create"),
    path("iterations/<int:iteration_id>/", views.iteration_detail, name="iteration"),
    path("iterations/demo-loop/", views.demo_loop_new, name="demo-loop"),
    path(
        "iterations/<int:iteration_id>/demo-loop/",
        views.demo_loop_continue,
        name="demo-loop-continue",
    ),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/new/", views.job_new, name="job-create"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel_view, name="job-cancel"),
    path("jobs/<int:job_id>/retry/", views.job_retry_view, name="job-retry"),
    path("versions/", views.versions, name="versions"),
    path("versions/metrics/", views.metrics, name="metrics"),
    path("versions/<int:version_id>/", views.version_detail, name="version"),
    path("versions/<int:version_id>/serve/", views.version_serve, name="version-serve"),
    path("staff/signals/", views.signals, name="signals"),
    path("staff/signals/score/", views.signals_score, name="signals-score"),
]
