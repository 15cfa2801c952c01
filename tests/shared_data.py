"""Where the real data used by the tests lives: `tests/data/`, inside the checkout (a fresh
clone has nothing beside it). See tests/data/README.md for sources and licences."""

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
HH_PATH = DATA / "hh-rlhf" / "harmless-base-dev.jsonl.gz"
