"""Where the real data used by the tests lives: `../shared/data` beside the checkout, or
MARGIN_SHARED_DATA."""

import os
from pathlib import Path

SHARED_DATA = Path(
    os.environ.get("MARGIN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
HH_PATH = SHARED_DATA / "hh-rlhf" / "harmless-base-dev.jsonl.gz"
