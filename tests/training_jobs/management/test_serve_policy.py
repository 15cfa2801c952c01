"""`manage.py serve_policy`: a succeeded policy becomes a serving variant from the shell."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ...annotation.factories import BatchFactory

pytestmark = pytest.mark.django_db


def test_serving_from_the_command_line(policy):
    batch = BatchFactory(status="draft", name="week 7")
    out = StringIO()
    call_command("serve_policy", "RLHF-V1-policy", "--batch", "week 7", stdout=out)
    assert "now serves as variant RLHF-V1-policy for batch week 7" in out.getvalue()
    assert batch.variants.get().model_path == str(policy.folder)
    with pytest.raises(CommandError, match="no policy version"):
        call_command("serve_policy", "nope")
