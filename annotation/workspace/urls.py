from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("batches/<int:batch_id>/work/", views.workspace, name="workspace"),
    path("batches/<int:batch_id>/dialogues/", views.dialogue_start, name="dialogue-start"),
    path("assignments/<int:assignment_id>/submit/", views.assignment_submit, name="submit"),
    path("assignments/<int:assignment_id>/draft/", views.assignment_draft, name="draft"),
    path(
        "dialogues/<int:dialogue_id>/continue/", views.dialogue_continue, name="dialogue-continue"
    ),
    path("dialogues/<int:dialogue_id>/end/", views.dialogue_end, name="dialogue-end"),
    path("staff/batches/<int:batch_id>/quality/", views.batch_quality, name="batch-quality"),
    path("staff/batches/<int:batch_id>/gold/", views.pair_gold, name="pair-gold"),
]
