"""Build the demo prompt files shipped in annotation/demo/ from their public sources.

    python scripts/build_demo_data.py --fastchat DIR --hh FILE

DIR holds FastChat's `mt_bench_question.jsonl` and `vicuna_bench_question.jsonl` (lm-sys/FastChat,
fastchat/llm_judge/data/{mt_bench,vicuna_bench}/question.jsonl; Apache 2.0); FILE is Anthropic
HH-RLHF harmless-base test data (anthropics/hh-rlhf, harmless-base/test.jsonl.gz, or the part of
it kept in tests/data/hh-rlhf/; MIT). The output is Margin's prompt JSONL, imported as it is by
`manage.py seed_demo` (and by `manage.py import_prompts`).

Helpfulness: every MT-Bench question (its second turn, the user's follow-up after the model's
answer, is kept in metadata.follow_ups and offered as the next message of the dialogue) and every
Vicuna-Bench question, alternating. Safety: the first human turn of hand-picked red-team dialogues
below, each with the paper's risk category (Llama 2, §4.2.2); picked to cover the three categories
without slurs, sexual content or self-harm methods, which a demo does not need.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from itertools import zip_longest
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "annotation" / "demo"
ILLICIT = "Illicit and criminal activities"
HATEFUL = "Hateful and harmful activities"
ADVICE = "Unqualified advice"
# Line (0-based) of the dialogue in harmless-base-dev.jsonl.gz -> risk category.
SAFETY_PICKS: dict[int, str] = {
    4: ILLICIT, 29: ILLICIT, 36: ILLICIT, 57: ILLICIT, 67: ILLICIT, 80: ILLICIT, 100: ILLICIT,
    137: ILLICIT, 142: ILLICIT, 146: ILLICIT, 201: ILLICIT, 210: ILLICIT, 291: ILLICIT,
    355: ILLICIT, 401: ILLICIT, 526: ILLICIT, 579: ILLICIT, 883: ILLICIT, 944: ILLICIT,
    1028: ILLICIT, 1554: ILLICIT,
    0: HATEFUL, 7: HATEFUL, 30: HATEFUL, 53: HATEFUL, 82: HATEFUL, 95: HATEFUL, 105: HATEFUL,
    133: HATEFUL, 140: HATEFUL, 286: HATEFUL, 338: HATEFUL, 419: HATEFUL, 422: HATEFUL,
    865: HATEFUL, 994: HATEFUL, 1010: HATEFUL, 1022: HATEFUL, 1219: HATEFUL, 1324: HATEFUL,
    1525: HATEFUL, 1573: HATEFUL,
    85: ADVICE, 123: ADVICE, 220: ADVICE, 227: ADVICE, 250: ADVICE, 399: ADVICE, 502: ADVICE,
    932: ADVICE, 938: ADVICE, 1074: ADVICE, 1156: ADVICE, 1203: ADVICE, 1233: ADVICE,
    1247: ADVICE, 1311: ADVICE, 1453: ADVICE, 1610: ADVICE,
}  # fmt: skip
FIRST_HUMAN_TURN = re.compile(r"^\n\nHuman: (.*?)\n\nAssistant:", re.S)


def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def helpfulness_records(fastchat: Path) -> list[dict]:
    mt_bench = [
        {
            "id": f"mt-bench-{q['question_id']}",
            "prompt": q["turns"][0],
            "metadata": {
                "source": "MT-Bench",
                "category": q["category"],
                "question_id": q["question_id"],
                "follow_ups": q["turns"][1:],
            },
        }
        for q in _read_jsonl(fastchat / "mt_bench_question.jsonl")
    ]
    vicuna = [
        {
            "id": f"vicuna-bench-{q['question_id']}",
            "prompt": q["turns"][0],
            "metadata": {
                "source": "Vicuna-Bench",
                "category": q["category"],
                "question_id": q["question_id"],
            },
        }
        for q in _read_jsonl(fastchat / "vicuna_bench_question.jsonl")
    ]
    alternating = [r for pair in zip_longest(mt_bench, vicuna) for r in pair if r is not None]
    return alternating


def safety_records(hh: Path) -> list[dict]:
    dialogues = _read_jsonl(hh)
    by_category: dict[str, list[dict]] = {}
    for line, category in sorted(SAFETY_PICKS.items()):
        match = FIRST_HUMAN_TURN.match(dialogues[line]["chosen"])
        if match is None:
            raise SystemExit(f"{hh}: line {line + 1} does not start with a human turn")
        by_category.setdefault(category, []).append(
            {
                "id": f"hh-harmless-{line + 1}",
                "prompt": match.group(1).strip(),
                "risk_category": category,
                "metadata": {
                    "source": "Anthropic HH-RLHF harmless-base (test split)",
                    "line": line + 1,
                },
            }
        )
    # The categories take turns, so the first pairs of the demo show all three.
    return [r for group in zip_longest(*by_category.values()) for r in group if r is not None]


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"{path}: {len(records)} prompts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fastchat", type=Path, required=True, help="FastChat question folder")
    parser.add_argument("--hh", type=Path, required=True, help="HH harmless-base JSONL(.gz)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    write_jsonl(args.out / "helpfulness" / "prompts.jsonl", helpfulness_records(args.fastchat))
    write_jsonl(args.out / "safety" / "prompts.jsonl", safety_records(args.hh))


if __name__ == "__main__":
    main()
