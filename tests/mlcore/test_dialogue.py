"""The one reader of dialogues and comparison rows (issue 13): its rules, the failing inputs of
the issue, and fuzzing (whatever it accepts is written as a TRL line and reads back equal)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcore.comparisons import TRL_KEYS, parse_comparison, trl_line
from mlcore.dialogue import RowInvalid, prompt_of
from mlcore.jsonl import FileError, read_records

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
U = "user"
A = "assistant"


def msg(role: str, content) -> dict:
    return {"role": role, "content": content}


def strict_template():
    """The case's chat template that requires alternating roles (as Llama 2-Chat's does)."""

    def raise_exception(message):
        raise jinja2.TemplateError(message)

    env = jinja2.Environment(autoescape=False)  # noqa: S701 (a chat template, not HTML)
    env.globals["raise_exception"] = raise_exception
    source = (CASES / "06-strict-alternation-chat-template.jinja").read_text()
    return env.from_string(source)


def test_consecutive_turns_are_merged_and_render_on_a_strict_template():
    rows = [
        c for _, c in read_records(CASES / "06-hh-consecutive-same-role.jsonl", parse_comparison)
    ]
    assert len(rows) == 3
    assert rows[1].prompt[1] == msg(
        A, "Try a cooperative game.\n\nFor example one where you stop an outbreak together."
    )
    assert rows[2].prompt == [
        msg(U, "I want to start running.\n\nI am 52 and have not exercised in years.")
    ]
    template = strict_template()
    for row in rows:
        for response in (row.chosen, row.rejected):
            template.render(messages=[*row.prompt, msg(A, response)], add_generation_prompt=False)


def test_what_cannot_be_merged_is_refused_with_file_line_and_field():
    path = CASES / "06b-trl-role-order.jsonl"
    with pytest.raises(FileError, match=r"06b-trl-role-order.jsonl:1: field 'prompt': must end"):
        list(read_records(path, parse_comparison))
    second = json.loads(path.read_text().splitlines()[1])
    with pytest.raises(RowInvalid, match="only allowed first") as refused:
        parse_comparison(second)
    assert refused.value.field == "prompt[1].role"


@pytest.mark.parametrize(
    ("prompt", "field", "message"),
    [
        ([msg(A, "Hi"), msg(U, "Hello")], "prompt", "start with a user turn"),
        ([msg("system", "Be brief.")], "prompt", "no user turn"),
        ([msg(U, "  ")], "prompt[0].content", "is empty"),
        ([msg("tool", "x")], "prompt[0].role", "must be one of"),
        ([msg(U, [{"type": "image_url", "image_url": {}}])], "prompt[0].content[0]", "text parts"),
        ([msg(U, 3)], "prompt[0].content", "must be text"),
    ],
)
def test_bad_prompts_name_the_field(prompt, field, message):
    with pytest.raises(RowInvalid, match=message) as refused:
        parse_comparison({"prompt": prompt, "chosen": [msg(A, "a")], "rejected": [msg(A, "b")]})
    assert refused.value.field == field


def test_content_null_is_no_text_and_text_parts_are_joined():
    rows = [
        c for _, c in read_records(CASES / "13-trl-content-null-and-parts.jsonl", parse_comparison)
    ]
    assert rows[0].rejected == ""  # not the string 'None'
    assert rows[1].prompt == [msg(U, "What is 2 + 2?")] and rows[1].chosen == "4."
    two = [{"type": "text", "text": "Line one."}, {"type": "text", "text": "Line two."}]
    assert prompt_of({"messages": [msg(U, two)]}) == [msg(U, "Line one.\nLine two.")]


@pytest.mark.parametrize(
    ("bad", "message"),
    [("\ud800", r"lone surrogate U\+D800"), ("\udce9", r"lone surrogate U\+DCE9"), ("\x00", "NUL")],
)
def test_unstorable_text_is_refused_wherever_it_is(bad, message):
    record = {"prompt": [msg(U, "Hi")], "chosen": [msg(A, f"a{bad}b")], "rejected": [msg(A, "c")]}
    with pytest.raises(RowInvalid, match=message) as refused:
        parse_comparison(record)
    assert refused.value.field == "chosen[0].content"
    with pytest.raises(RowInvalid, match=message):
        prompt_of({"prompt": f"caf{bad} au lait"})
    with pytest.raises(RowInvalid, match=message):
        parse_comparison({"chosen": f"\n\nHuman: x{bad}\n\nAssistant: y", "rejected": "z"})
    # An error message about it can itself be stored and printed.
    str(refused.value).encode("utf-8")


def test_the_surrogate_case_file_is_refused_on_its_line():
    with pytest.raises(FileError) as refused:
        list(read_records(CASES / "01-lone-surrogate-comparisons.jsonl", parse_comparison))
    assert (refused.value.line, refused.value.field) == (2, "chosen[0].content")
    with pytest.raises(FileError) as refused:
        list(read_records(CASES / "01-lone-surrogate-prompts.jsonl", prompt_of))
    assert (refused.value.line, refused.value.field) == (2, "prompt")


def test_a_bom_is_read_like_no_bom_and_a_wide_encoding_is_named(tmp_path):
    rows = [c for _, c in read_records(CASES / "12-bom-trl-comparisons.jsonl", parse_comparison)]
    assert rows[0].prompt == [msg(U, "Name a river in Spain.")] and len(rows) == 2
    prompts = [p for _, p in read_records(CASES / "12-bom-prompts.jsonl", prompt_of)]
    assert prompts == [[msg(U, "Write a limerick about a lighthouse keeper.")]]
    wide = tmp_path / "utf16.jsonl"
    wide.write_bytes('{"prompt": "x"}\n'.encode("utf-16"))
    with pytest.raises(FileError, match=r"utf16.jsonl:1: the file is UTF-16; save it as UTF-8"):
        list(read_records(wide, prompt_of))
    latin = tmp_path / "cp1252.jsonl.gz"
    latin.write_bytes(gzip.compress('{"prompt": "café"}\n'.encode("cp1252")))
    with pytest.raises(FileError, match=r"cp1252.jsonl.gz:1: is not UTF-8"):
        list(read_records(latin, prompt_of))
    damaged = tmp_path / "damaged.jsonl.gz"
    damaged.write_bytes(gzip.compress(b'{"prompt": "x"}\n' * 100)[:-12])
    with pytest.raises(FileError, match="damaged"):
        list(read_records(damaged, prompt_of))


def test_hh_and_implicit_prompt_forms_agree():
    hh = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Bye\n\nAssistant: See you.",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Bye\n\nAssistant: No.",
    }
    context = [msg(U, "Hi"), msg(A, "Hello!"), msg(U, "Bye")]
    implicit = {"chosen": [*context, msg(A, "See you.")], "rejected": [*context, msg(A, "No.")]}
    explicit = {"prompt": context, "chosen": "See you.", "rejected": "No."}
    assert parse_comparison(hh) == parse_comparison(implicit) == parse_comparison(explicit)
    diverging = dict(
        hh, rejected="\n\nHuman: Hi\n\nAssistant: Other\n\nHuman: Bye\n\nAssistant: No."
    )
    with pytest.raises(RowInvalid, match="same dialogue up to one final"):
        parse_comparison(diverging)


def test_identical_responses_are_read_and_marked_degenerate():
    rows = [
        c for _, c in read_records(CASES / "07-identical-chosen-rejected.jsonl", parse_comparison)
    ]
    assert [r.degenerate for r in rows] == [False, False, False, True, True, True]


# -- fuzzing ----------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)  # any storable or not text
# Lone surrogates (what a JSON "\\ud800" escape gives) and NUL among ordinary text.
UNSTORABLE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
MAYBE_BAD_TEXT = st.one_of(
    TEXT, st.text(st.one_of(st.characters(codec="utf-8"), UNSTORABLE, st.just("\x00")), max_size=8)
)
CONTENT = st.one_of(
    MAYBE_BAD_TEXT,
    st.none(),
    st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}), max_size=3),
)
ROLE = st.sampled_from(["system", "user", "assistant", "tool", ""])
MESSAGE = st.fixed_dictionaries({"role": ROLE, "content": CONTENT})
MESSAGES = st.lists(MESSAGE, max_size=5)
HH = st.lists(
    st.tuples(st.sampled_from(["Human", "Assistant"]), MAYBE_BAD_TEXT), min_size=1, max_size=5
).map(lambda turns: "".join(f"\n\n{role}: {text}" for role, text in turns))
SIDE = st.one_of(MAYBE_BAD_TEXT, MESSAGES, HH)
EXTRAS = {
    "grade": st.sampled_from(["better", "", None, 3]),
    "margin": st.one_of(st.floats(allow_nan=True), st.none(), st.text(max_size=2)),
    "stage": st.sampled_from(["helpfulness", "safety", "", None, "other"]),
    "safety_bin": st.sampled_from(["both_safe", "chosen_unsafe", "", None, "x"]),
    "chosen_safe": st.sampled_from([True, False, None, "yes"]),
    "id": st.one_of(st.integers(), TEXT, st.none(), st.booleans()),
}
ANY_RECORD = st.fixed_dictionaries(
    {"chosen": SIDE, "rejected": SIDE},
    optional={"prompt": st.one_of(MAYBE_BAD_TEXT, MESSAGES), **EXTRAS},
)
# Records near the accepted set, so that most of them are read: roles in order or repeated,
# content of every accepted shape (markers, whitespace, parts, null), HH pairs sharing turns.
TURN = st.fixed_dictionaries({"role": st.sampled_from([U, A]), "content": CONTENT})
PROMPT = st.tuples(st.booleans(), st.lists(TURN, max_size=4), TEXT).map(
    lambda t: [msg("system", "Be brief.")] * t[0] + t[1] + [msg(U, t[2] or "?")]
)
ANSWER = st.one_of(
    TEXT,
    st.lists(
        st.fixed_dictionaries({"role": st.just(A), "content": CONTENT}), min_size=1, max_size=2
    ),
)
HH_PAIR = st.tuples(
    st.lists(st.tuples(st.sampled_from(["Human", "Assistant"]), TEXT), max_size=4), TEXT, TEXT, TEXT
).map(
    lambda t: {
        "chosen": "".join(
            f"\n\n{r}: {c}"
            for r, c in [("Human", "Hi"), *t[0], ("Human", t[1] or "?"), ("Assistant", t[2])]
        ),
        "rejected": "".join(
            f"\n\n{r}: {c}"
            for r, c in [("Human", "Hi"), *t[0], ("Human", t[1] or "?"), ("Assistant", t[3])]
        ),
    }
)
NEAR_RECORD = st.one_of(
    st.fixed_dictionaries(
        {"prompt": PROMPT, "chosen": ANSWER, "rejected": ANSWER}, optional=EXTRAS
    ),
    HH_PAIR,
)
RECORD = st.one_of(ANY_RECORD, NEAR_RECORD, NEAR_RECORD)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RECORD)
def test_anything_the_reader_accepts_exports_and_reads_back_equal(record):
    try:
        row = parse_comparison(json.loads(json.dumps(record)))
    except RowInvalid as refused:
        str(refused).encode("utf-8")  # the message itself is always printable text
        return
    line = trl_line(row, margin=row.margin or 0.0)
    assert line.endswith("\n") and line.count("\n") == 1
    exported = json.loads(line)
    assert tuple(exported) == TRL_KEYS
    assert {k: type(v) for k, v in exported.items()} == {
        "prompt": list,
        "chosen": list,
        "rejected": list,
        "margin": float,
        "grade": str,
        "stage": str,
        "safety_bin": str,
    }
    again = parse_comparison(exported)
    assert (again.prompt, again.chosen, again.rejected) == (row.prompt, row.chosen, row.rejected)
    assert (again.grade, again.stage, again.safety_bin) == (row.grade, row.stage, row.safety_bin)
    if row.safety_bin is not None:  # the TRL line carries safety as the bin
        assert (again.chosen_safe, again.rejected_safe) == (row.chosen_safe, row.rejected_safe)
    line.encode("utf-8")  # what is accepted can be written, and so stored
    template = strict_template()
    for response in (row.chosen, row.rejected):
        template.render(messages=[*row.prompt, msg(A, response)], add_generation_prompt=False)
