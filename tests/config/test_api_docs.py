"""The API docs page works as served: its assets from the site, under the site's CSP."""

import pytest

from ..browser import WAIT_MS

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_docs_page_loads_its_assets_from_the_site(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn." not in html and "fonts.googleapis" not in html and "<style" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


@pytest.mark.browser
def test_docs_render_the_operations_in_the_browser_without_csp_violations(
    live_server, playwright_page
):
    page = playwright_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=WAIT_MS)
    operations = page.locator(".opblock-summary-path").all_inner_texts()
    assert any(text.strip().startswith("/api/batches/") for text in operations), operations[:5]
    assert any("/api/jobs/" in text for text in operations)
    page.locator(".opblock-summary").first.click()  # an operation opens with its parameters
    page.wait_for_selector(".opblock-body", timeout=WAIT_MS)
    assert not [p for p in problems if "Content Security Policy" in p], problems
    assert not problems, problems
