import pytest


def test_favicon_redirects_to_the_static_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("margin/favicon.svg")


@pytest.mark.django_db
def test_the_url_configuration_loads_without_collected_static_files(settings):
    """Production settings hash static names; importing the URLs must not look them up."""
    import importlib

    import config.urls

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    importlib.reload(config.urls)
