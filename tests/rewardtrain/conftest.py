"""Fixtures for rewardtrain: the real tokenizer, a tiny random Llama, HH pairs, synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rewardtrain.helpers import make_tiny_llama, synthetic_records, write_jsonl
from tests.shared_data import HH_PATH


@pytest.fixture(scope="session")
def smol_dir() -> Path:
    from inference.default_model import ensure_default_model

    return ensure_default_model()


@pytest.fixture(scope="session")
def tokenizer(smol_dir):
    from rewardtrain.model import load_tokenizer

    return load_tokenizer(smol_dir)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, tokenizer) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), tokenizer)


@pytest.fixture(scope="session")
def hh_pairs():
    from rewardtrain.data import read_pairs

    pairs, _ = read_pairs(HH_PATH)
    return pairs


@pytest.fixture(scope="session")
def synthetic_file(tmp_path_factory) -> Path:
    return write_jsonl(
        tmp_path_factory.mktemp("synthetic") / "synthetic.jsonl", synthetic_records(600)
    )


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two spinning threads slow down badly."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
