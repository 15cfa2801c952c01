"""Issue 13, cases 09 and 10: every list endpoint validates its query parameters (400 naming
the parameter, never a 500) and caps its page size, as the OpenAPI schema says."""

import io
import json

import pytest

from annotation import roles
from annotation.imports import prompts_import
from config.pagination import MAX_PAGE_SIZE

from .factories import BatchFactory, JudgmentFactory
from .test_api import client_for

pytestmark = pytest.mark.django_db
HUGE = "99999999999999999999"

BAD_QUERIES = [
    ("/api/pairs/?batch=abc", "batch"),
    ("/api/pairs/?batch=" + HUGE, "batch"),
    ("/api/pairs/?batch=-1", "batch"),
    ("/api/pairs/?status=nonsense", "status"),
    ("/api/pairs/?status=%00", "status"),
    ("/api/judgments/?batch=abc", "batch"),
    ("/api/judgments/?batch=3%23details", "batch"),
    ("/api/judgments/?stage=%00", "stage"),
    ("/api/batches/?stage=unknown", "stage"),
    ("/api/jobs/?state=nonsense", "state"),
    ("/api/jobs/?iteration=abc", "iteration"),
    ("/api/jobs/?iteration=" + HUGE, "iteration"),
    ("/api/versions/?kind=nonsense", "kind"),
    ("/api/exports/comparisons/?batch=abc", "batch"),
    ("/api/exports/comparisons/?batch=" + HUGE, "batch"),
    ("/api/exports/comparisons/?since=2026-02-30", "since"),
    ("/api/pairs/?limit=abc", "limit"),
    ("/api/pairs/?limit=0", "limit"),
    ("/api/pairs/?offset=-5", "offset"),
    ("/api/pairs/?offset=" + HUGE, "offset"),
    ("/api/iterations/?limit=" + "9" * 5000, "limit"),
]


@pytest.mark.parametrize(("url", "field"), BAD_QUERIES)
def test_bad_query_values_answer_400_naming_the_parameter(url, field):
    JudgmentFactory()
    response = client_for(roles.ML_ENGINEER).get(url)
    assert response.status_code == 400, (url, response.content[:300])
    assert field in response.json()["detail"], response.json()


def test_good_filters_still_filter():
    judgment = JudgmentFactory()
    JudgmentFactory()
    client = client_for(roles.ML_ENGINEER)
    batch = judgment.pair.batch
    rows = client.get(f"/api/judgments/?batch={batch.pk}&stage={batch.stage}").json()["results"]
    assert [r["id"] for r in rows] == [judgment.pk]
    pairs = client.get(f"/api/pairs/?batch={batch.pk}&status=done").json()
    assert pairs["count"] == (judgment.pair.status == "done")


def test_a_batch_the_user_cannot_see_is_not_a_valid_filter():
    hidden = BatchFactory(status="draft")
    response = client_for(roles.ANNOTATOR).get(f"/api/batches/?status=draft&stage={hidden.stage}")
    assert response.status_code == 200 and response.json()["count"] == 0


def test_page_size_is_capped_whatever_limit_is_asked():
    batch = BatchFactory()
    lines = "".join(json.dumps({"prompt": f"Houseplant tip {i}?"}) + "\n" for i in range(1500))
    prompts_import(batch=batch, stream=io.BytesIO(lines.encode()), filename="case10.jsonl")
    client = client_for(roles.ML_ENGINEER)
    for query, rows in [("", 100), ("?limit=100000", MAX_PAGE_SIZE), ("?limit=1000000000", 1000)]:
        body = client.get(f"/api/batches/{batch.pk}/prompts/{query}").json()
        assert body["count"] == 1500 and len(body["results"]) == rows, query
    last = client.get(f"/api/batches/{batch.pk}/prompts/?limit=1000&offset=1400").json()
    assert len(last["results"]) == 100 and last["next"] is None


def test_the_schema_documents_the_cap_and_the_filters():
    client = client_for(roles.ML_ENGINEER)
    body = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    prompts = body["paths"]["/api/batches/{id}/prompts/"]["get"]["parameters"]
    limit = next(p for p in prompts if p["name"] == "limit")
    assert str(MAX_PAGE_SIZE) in limit["description"]
    pairs = {p["name"] for p in body["paths"]["/api/pairs/"]["get"]["parameters"]}
    assert {"batch", "status", "limit", "offset"} <= pairs
    jobs = {p["name"] for p in body["paths"]["/api/jobs/"]["get"]["parameters"]}
    assert {"state", "iteration"} <= jobs
