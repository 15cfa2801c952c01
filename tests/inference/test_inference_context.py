"""Dialogues longer than the context: drop the oldest turns (and say so), or refuse."""

from __future__ import annotations

import pytest

from inference import ContextFitter, ContextTooLong, SamplingParams, fit_messages
from inference.context import prompt_token_ids


def dialogue(turns: int, words: int = 40) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "You are terse."}]
    for t in range(turns):
        messages.append({"role": "user", "content": f"question {t} " + "word " * words})
        messages.append({"role": "assistant", "content": f"answer {t} " + "word " * words})
    messages.append({"role": "user", "content": "last question?"})
    return messages


def test_fits_untouched(tokenizer):
    messages = dialogue(2)
    kept, dropped = ContextFitter(tokenizer, 2048).fit(messages, max_tokens=64)
    assert kept == messages and dropped == 0


def test_drops_oldest_turns_and_keeps_system_and_last_user(tokenizer):
    messages = dialogue(6)
    full = len(prompt_token_ids(tokenizer, messages))
    fitter = ContextFitter(tokenizer, max_context=full // 2 + 32)
    kept, dropped = fitter.fit(messages, max_tokens=32)
    assert dropped > 0 and dropped % 2 == 0  # whole user/assistant exchanges
    assert kept[0] == messages[0]
    assert kept[-1] == messages[-1]
    assert kept[1]["role"] == "user"
    assert kept == [messages[0]] + messages[1 + dropped :]
    assert len(prompt_token_ids(tokenizer, kept)) + 32 <= fitter.max_context
    # the least was dropped: keeping one more exchange would not fit
    longer = [messages[0]] + messages[1 + dropped - 2 :]
    assert len(prompt_token_ids(tokenizer, longer)) + 32 > fitter.max_context


def test_refuse_mode_raises(tokenizer):
    messages = dialogue(6)
    fitter = ContextFitter(tokenizer, max_context=200, policy="refuse")
    with pytest.raises(ContextTooLong, match="fit"):
        fitter.fit(messages, max_tokens=32)


def test_last_turn_alone_too_long_raises(tokenizer):
    messages = [{"role": "user", "content": "word " * 500}]
    with pytest.raises(ContextTooLong, match="last user turn"):
        ContextFitter(tokenizer, max_context=256).fit(messages, max_tokens=16)


def test_counting_rule_without_a_tokenizer():
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}] * 3
    messages.append({"role": "user", "content": "c"})
    kept, dropped = fit_messages(messages, count=len, budget=3)
    assert kept == messages[-3:] and dropped == 4


def test_backend_records_dropped_turns(model_dir):
    from inference import ModelVariant, load_backend

    backend = load_backend(ModelVariant("cpu", model=str(model_dir), max_context=256))
    assert backend.fitter.max_context == 256
    [c] = backend.generate([dialogue(10)], SamplingParams(max_tokens=4, seed=3))
    assert c.dropped_turns > 0 and c.text
    assert c.prompt_tokens + 4 <= 256


def test_backend_refuses_with_index(model_dir):
    from inference.backends.http import OpenAIHTTPBackend

    backend = OpenAIHTTPBackend(
        "http://127.0.0.1:9/v1", "m", tokenizer=model_dir, max_context=256, truncation="refuse"
    )
    ok = [{"role": "user", "content": "hi"}]
    with pytest.raises(ContextTooLong) as info:
        backend.generate([ok, dialogue(10)], SamplingParams(max_tokens=8))
    assert info.value.index == 1
