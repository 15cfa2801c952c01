from django.urls import path

from . import views

urlpatterns = [
    path("staff/generation/", views.generation_status, name="generation-status"),
    path("staff/generation/<int:pair_id>/retry/", views.generation_retry, name="generation-retry"),
]
