"""Where the PPO bench's two sides read the reward: the same answers scored as Margin reads them
(prompt and answer re-tokenized with the reward model's chat template, which closes the turn;
the reward at its last token, as `rewardtrain` trains) and as TRL's PPO trainer reads them (the
policy's own prompt and answer tokens; the reward at the last answer token).

    .venv/bin/python bench/_ppo_reward_reading.py --work <ppo_bench work folder> \
        --out bench/results/ppo-reward-reading.json

`--work` is a folder `bench/ppo_bench.py --work` left (its prompts.jsonl and reward-model/).
`make bench` skips this companion, as it skips every `_` script.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="A folder ppo_bench.py left.")
    parser.add_argument("--answers", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "ppo-reward-reading.json"))
    args = parser.parse_args(argv)

    import torch

    from inference import SamplingParams
    from inference.backends.transformers_cpu import TransformersBackend
    from training_jobs.rlhf.reward import RewardModels

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    lines = (work / "prompts.jsonl").read_text().splitlines()[: args.answers]
    prompts = [json.loads(line)["prompt"] for line in lines]
    backend = TransformersBackend(batch_size=len(prompts))
    answers = backend.generate(
        prompts,
        [
            SamplingParams(temperature=1.0, max_tokens=args.max_new_tokens, seed=i)
            for i in range(len(prompts))
        ],
    )
    models = RewardModels(str(work / "reward-model"))
    groups = [{"prompt": p, "responses": [a.text]} for p, a in zip(prompts, answers, strict=True)]
    as_margin = [s[0] for s in models.raw("helpfulness", groups)]
    classifier = models.models["helpfulness"][0].classifier
    body = getattr(classifier, classifier.base_model_prefix)
    as_trl = []
    with torch.inference_mode():
        for a in answers:
            ids = torch.tensor([list(a.prompt_token_ids) + list(a.token_ids)])
            last = body(input_ids=ids).last_hidden_state[0, -1]
            as_trl.append(float(classifier.score(last)))
    report = {
        "answers": len(answers),
        "cut_at_max_new_tokens": sum(a.finish_reason == "length" for a in answers),
        "mean_as_margin_reads": statistics.fmean(as_margin),
        "mean_as_trl_reads": statistics.fmean(as_trl),
        "as_margin_reads": as_margin,
        "as_trl_reads": as_trl,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if not k.startswith("as_")}, indent=2))
    return report


if __name__ == "__main__":
    main()
