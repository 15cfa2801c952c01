"""Torch threads per worker pool process: the cores shared out, never oversubscribed."""

import importlib

import torch

from config.threads import available_cores, torch_threads_per_process


def test_the_cores_are_shared_among_the_pool_processes(monkeypatch):
    monkeypatch.delenv("MARGIN_TORCH_THREADS", raising=False)
    monkeypatch.setattr("config.threads.available_cores", lambda: 2)
    assert torch_threads_per_process(2) == 1
    assert torch_threads_per_process(1) == 2
    assert torch_threads_per_process(8) == 1  # never below one
    assert torch_threads_per_process(0) == 1  # celery's default: a process per core
    monkeypatch.setattr("config.threads.available_cores", lambda: 16)
    assert torch_threads_per_process(4) == 4


def test_the_variable_overrides_the_share(monkeypatch):
    monkeypatch.setenv("MARGIN_TORCH_THREADS", "3")
    assert torch_threads_per_process(2) == 3


def test_a_new_pool_process_sets_its_threads(monkeypatch):
    celery_app = importlib.import_module("config.celery_app")  # the module, not the app
    monkeypatch.delenv("MARGIN_TORCH_THREADS", raising=False)
    before = torch.get_num_threads()
    monkeypatch.setitem(celery_app._pool, "processes", available_cores())
    try:
        celery_app._torch_threads()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
