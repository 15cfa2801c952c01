from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import obtain_auth_token

from config.home import favicon, home

urlpatterns = [
    path("", home, name="home"),
    # pages without a <link rel="icon"> (the Django admin) make browsers ask for this
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("api/", include("annotation.api_urls")),
    path("api/", include("training_jobs.api_urls")),
    path("", include("training_jobs.urls")),
    path("", include("annotation.generation.urls")),
    path("", include("annotation.workspace.urls")),
]
