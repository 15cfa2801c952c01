"""One rejection-sampling round on CPU, measured by the simulated annotators' hidden utility.

    .venv/bin/python bench/rejection_sampling_cpu.py                   # reward model trained here
    .venv/bin/python bench/rejection_sampling_cpu.py --reward utility  # oracle selection

Figures and the commands that made them: bench/README.md.

1. Reward model (--reward rm): sample K answers for each of --rm-prompts prompts from the policy
   (SmolLM2-135M-Instruct), judge every pair of them with the hidden utility as a noisy
   annotator does (`training_jobs.simulation.utility.judge`), train a helpfulness reward model
   on those pairs with rewardtrain. (--reward utility skips this and selects by the hidden
   utility itself: an upper bound on what selection can do.)
2. Held-out utility of the start policy: --eval-samples answers to each held-out prompt.
3. The round: K answers per training prompt, the best by R_c kept, the policy fine-tuned on
   them (loss on answer tokens only), exactly as `python -m training_jobs.rlhf round` does.
4. Held-out utility of the new policy, same prompts, temperature and seeds.

Training, RM and held-out prompts are disjoint. Writes bench/out/rejection_sampling_<reward>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
import time
from pathlib import Path

import torch

from mlcore.comparisons import Comparison, trl_line
from mlcore.progress import Progress
from rewardtrain.grades import margin_for
from training_jobs.rlhf import finetune
from training_jobs.rlhf.config import Sampling, Training
from training_jobs.rlhf.pool import prompt_key, read_jsonl
from training_jobs.rlhf.reward import Reward, RewardModels
from training_jobs.rlhf.sample import load_policy_backend, sample_answers
from training_jobs.rlhf.select import select
from training_jobs.simulation.utility import judge, utility

TOPICS = [
    "photosynthesis",
    "volcanoes",
    "bicycles",
    "honeybees",
    "glaciers",
    "chess",
    "bread baking",
    "solar panels",
    "octopuses",
    "tides",
    "rainbows",
    "vaccines",
    "compost",
    "lighthouses",
    "coffee roasting",
    "earthquakes",
    "origami",
    "penguins",
    "electric guitars",
    "coral reefs",
    "telescopes",
    "marathon training",
    "recycling",
    "thunderstorms",
    "sourdough",
    "satellites",
    "mushrooms",
    "windmills",
    "jazz music",
    "deserts",
    "submarines",
    "kites",
    "pottery",
    "hurricanes",
    "beekeeping",
    "comets",
    "gardening",
    "dolphins",
    "printing presses",
    "wetlands",
    "sailing",
    "fossils",
    "calligraphy",
    "rainforests",
    "trains",
    "cheese making",
    "the moon",
    "snowflakes",
    "wolves",
    "libraries",
    "maple syrup",
    "bridges",
    "owls",
    "fireflies",
    "pyramids",
    "yoga",
    "batteries",
    "whales",
    "tea ceremonies",
    "caves",
]
TEMPLATES = [
    "Explain {t} to a curious child.",
    "What are the most interesting facts about {t}?",
    "Describe how {t} work or happen, step by step.",
    "Why do people find {t} fascinating?",
]


def prompts_for(topics: list[str], seed: int, every_template: bool = False) -> list[dict]:
    """One prompt per topic (a template drawn with `seed`), or one per topic and template."""
    rng = random.Random(seed)
    rows = []
    for t in topics:
        texts = (
            [x.format(t=t) for x in TEMPLATES]
            if every_template
            else [rng.choice(TEMPLATES).format(t=t)]
        )
        for text in texts:
            prompt = [{"role": "user", "content": text}]
            rows.append({"key": prompt_key(prompt), "id": t, "prompt": prompt, "safety": False})
    return rows


def text_of(row: dict) -> str:
    return row["prompt"][-1]["content"]


class UtilityScorer:
    """Selection by the hidden utility itself (what a perfect reward model would pick)."""

    def score(self, prompts, answers, safety) -> list[list[Reward]]:
        return [
            [Reward(utility(p[-1]["content"], a), None, "helpfulness") for a in group]
            for p, group in zip(prompts, answers, strict=True)
        ]


def sample_with(policy: str, prompts: list[dict], args, *, k, temperature, seed, name):
    """K answers per prompt from the policy on the CPU backend, with a progress bar."""
    sampling = Sampling(
        policy=policy,
        batch_size=args.batch_size,
        k=k,
        temperature=temperature,
        top_p=1.0,
        max_tokens=args.max_tokens,
        seed=seed,
    )
    backend = load_policy_backend(sampling)
    with Progress() as progress:
        stage = progress.stage(name, total=len(prompts) * k)
        return sample_answers(backend, prompts, sampling, stage)


def held_out_utility(policy: str, prompts: list[dict], args) -> dict:
    """Mean hidden utility of --eval-samples answers per held-out prompt (fixed seeds)."""
    rows = sample_with(
        policy,
        prompts,
        args,
        k=args.eval_samples,
        temperature=args.eval_temperature,
        seed=10_000,
        name="held-out",
    )
    scores = [utility(text_of(r), a) for r in rows for a in r["responses"]]
    words = [len(a.split()) for r in rows for a in r["responses"]]
    return {
        "mean_utility": statistics.fmean(scores),
        "stdev": statistics.stdev(scores),
        "scores": scores,
        "answers": len(scores),
        "mean_words": statistics.fmean(words),
        "words": words,
        "prompts": [text_of(r) for r in rows for _ in r["responses"]],
        "topics": [r["id"] for r in rows for _ in r["responses"]],
        "examples": [{"prompt": text_of(r), "answer": r["responses"][0]} for r in rows[:2]],
    }


def clustered_standard_error(values: list[float], clusters: list[str]) -> tuple[float, int]:
    """Standard error of the mean of `values` treating each cluster (a prompt, a topic) as one
    observation: the standard deviation of the cluster means over the root of their number.
    Answers to one prompt, and prompts on one topic, are alike, so they are not independent."""
    groups: dict[str, list[float]] = {}
    for value, cluster in zip(values, clusters, strict=True):
        groups.setdefault(cluster, []).append(value)
    means = [statistics.fmean(v) for v in groups.values()]
    if len(means) < 2:
        return math.nan, len(means)
    return statistics.stdev(means) / len(means) ** 0.5, len(means)


def paired_change(before: dict, after: dict) -> dict:
    """Utility gain and answer-length change, same prompts, sample slots and seeds before and
    after, with standard errors by answer, by prompt and by topic (the cautious one: the
    held-out prompts are topics x templates), and the shares of prompts and topics improved."""
    diffs = [a - b for a, b in zip(after["scores"], before["scores"], strict=True)]
    longer = [a - b for a, b in zip(after["words"], before["words"], strict=True)]
    prompts, topics = before["prompts"], before["topics"]
    by_prompt, n_prompts = clustered_standard_error(diffs, prompts)
    by_topic, n_topics = clustered_standard_error(diffs, topics)
    words_by_topic, _ = clustered_standard_error(longer, topics)

    def improved(clusters: list[str]) -> float:
        groups: dict[str, list[float]] = {}
        for d, c in zip(diffs, clusters, strict=True):
            groups.setdefault(c, []).append(d)
        return sum(statistics.fmean(v) > 0 for v in groups.values()) / len(groups)

    return {
        "gain": statistics.fmean(diffs),
        "gain_standard_error": statistics.stdev(diffs) / len(diffs) ** 0.5,
        "gain_standard_error_by_prompt": by_prompt,
        "gain_standard_error_by_topic": by_topic,
        "prompts_evaluated": n_prompts,
        "topics_evaluated": n_topics,
        "answers_improved_share": sum(d > 0 for d in diffs) / len(diffs),
        "prompts_improved_share": improved(prompts),
        "topics_improved_share": improved(topics),
        "words_before": before["mean_words"],
        "words_after": after["mean_words"],
        "words_change": statistics.fmean(longer),
        "words_change_standard_error_by_topic": words_by_topic,
    }


def train_reward_model(policy: str, prompts: list[dict], out: Path, args) -> dict:
    """Pairs from every two of K samples per prompt, judged by the hidden utility."""
    rows = sample_with(
        policy, prompts, args, k=args.k, temperature=1.0, seed=20_000, name="rm samples"
    )
    rng = random.Random(0)
    pairs = []
    for r in rows:
        for a, b in itertools.combinations(r["responses"], 2):
            chosen, grade, _, _ = judge(text_of(r), a, b, rng)
            good, bad = (a, b) if chosen == "a" else (b, a)
            comparison = Comparison(r["prompt"], good, bad, grade=grade, stage="helpfulness")
            pairs.append(trl_line(comparison, margin_for(grade)))
    data = out / "rm_pairs.jsonl"
    data.write_text("".join(pairs), encoding="utf-8")
    from rewardtrain.config import TrainConfig
    from rewardtrain.train import main as train

    metrics = train(
        TrainConfig(
            output_dir=str(out / "rm"),
            model=policy,
            data=[str(data)],
            mix="none",
            epochs=args.rm_epochs,
            lr=args.rm_lr,
            batch_pairs=8,
            test_pairs=args.rm_test_pairs,
            test_fraction=0.2,
            save_every=0,
            pack_tokens=1024,
            max_length=512,
        )
    )
    return {"pairs": len(pairs), "metrics": metrics}


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reward", choices=("rm", "utility"), default="rm", help="what selects")
    p.add_argument("--train-prompts", type=int, default=32, help="prompts of the round")
    p.add_argument("--rm-prompts", type=int, default=16, help="prompts for RM pairs")
    p.add_argument("--heldout-prompts", type=int, default=12, help="held-out prompts")
    p.add_argument("--k", type=int, default=4, help="answers per prompt")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--max-tokens", type=int, default=64, help="new tokens per answer")
    p.add_argument("--eval-samples", type=int, default=2, help="answers per held-out prompt")
    p.add_argument("--eval-temperature", type=float, default=0.7, help="held-out temperature")
    p.add_argument("--batch-size", type=int, default=8, help="CPU generation batch")
    p.add_argument("--epochs", type=float, default=3.0, help="fine-tuning epochs")
    p.add_argument("--lr", type=float, default=5e-5, help="fine-tuning learning rate")
    p.add_argument("--train-batch", type=int, default=8, help="fine-tuning batch")
    p.add_argument("--rm-epochs", type=float, default=2.0, help="reward-model epochs")
    p.add_argument("--rm-lr", type=float, default=3e-5, help="reward-model learning rate")
    p.add_argument("--rm-test-pairs", type=int, default=16, help="held-out RM pairs")
    p.add_argument(
        "--heldout-templates",
        choices=("one", "all"),
        default="one",
        help="held-out prompts: one template per topic, or all 4 (4x the prompts)",
    )
    p.add_argument(
        "--rm",
        default="",
        help="a reward-model folder trained by an earlier run (--reward rm): reuse it",
    )
    p.add_argument("--policy", default="", help="start policy ('' = SmolLM2 folder)")
    p.add_argument("--out", default="bench/out", help="working folder (models, samples)")
    p.add_argument(
        "--result",
        default="",
        help="the figures' JSON (default bench/results/rejection_sampling_<reward>.json)",
    )
    return p


def main(args: argparse.Namespace) -> dict:
    from inference.default_model import ensure_default_model

    torch.manual_seed(0)
    policy = args.policy or str(ensure_default_model())
    out = Path(args.out) / f"rejection_sampling_{args.reward}"
    out.mkdir(parents=True, exist_ok=True)
    n_train, n_rm, n_held = args.train_prompts, args.rm_prompts, args.heldout_prompts
    if n_train + n_rm + n_held > len(TOPICS):
        raise SystemExit(f"at most {len(TOPICS)} prompts in all")
    train = prompts_for(TOPICS[:n_train], 1)
    rm_prompts = prompts_for(TOPICS[n_train : n_train + n_rm], 2)
    held = prompts_for(TOPICS[len(TOPICS) - n_held :], 3, args.heldout_templates == "all")
    started = time.perf_counter()
    timings = {}
    result: dict = {"config": vars(args), "threads": torch.get_num_threads()}

    if args.reward == "rm" and args.rm:
        result["reward_model"] = {"reused": args.rm}
        scorer = RewardModels(args.rm)
        timings["reward_model_s"] = 0.0
    elif args.reward == "rm":
        result["reward_model"] = train_reward_model(policy, rm_prompts, out, args)
        scorer = RewardModels(str(out / "rm"))
        timings["reward_model_s"] = time.perf_counter() - started
    else:
        scorer = UtilityScorer()

    t = time.perf_counter()
    result["before"] = held_out_utility(policy, held, args)
    timings["eval_before_s"] = time.perf_counter() - t

    t = time.perf_counter()
    rows = sample_with(
        policy, train, args, k=args.k, temperature=args.temperature, seed=0, name="sample"
    )
    timings["sample_s"] = time.perf_counter() - t
    t = time.perf_counter()
    with Progress() as progress:
        selection = select(rows, scorer, [], out, "bench", progress)
    timings["select_s"] = time.perf_counter() - t
    utilities = [[utility(text_of(r), a) for a in r["responses"]] for r in rows]
    picked = {e["key"]: e["response"] for e in read_jsonl(out / "pool.jsonl")}
    result["selection"] = {
        **selection,
        "utility_of_selected": statistics.fmean(
            utility(text_of(r), picked[r["key"]]) for r in rows
        ),
        "utility_of_all_samples": statistics.fmean(x for u in utilities for x in u),
        "utility_of_best_sample": statistics.fmean(max(u) for u in utilities),
    }

    t = time.perf_counter()
    training = Training(
        epochs=args.epochs, lr=args.lr, batch_size=args.train_batch, micro_batch=4, max_length=512
    )
    with Progress() as progress:
        result["finetune"] = finetune.train(
            policy, training, read_jsonl(out / "pool.jsonl"), out / "policy", progress
        )
    timings["finetune_s"] = time.perf_counter() - t

    t = time.perf_counter()
    result["after"] = held_out_utility(str(out / "policy"), held, args)
    timings["eval_after_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - started
    result["timings"] = {k: round(v, 1) for k, v in timings.items()}
    result["gain"] = result["after"]["mean_utility"] - result["before"]["mean_utility"]
    result.update(paired_change(result["before"], result["after"]))
    target = Path(args.result or f"bench/results/rejection_sampling_{args.reward}.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    r = main(make_parser().parse_args())
    keys = (
        "gain",
        "gain_standard_error",
        "answers_improved_share",
        "prompts_evaluated",
        "gain_standard_error_by_prompt",
        "prompts_improved_share",
        "topics_evaluated",
        "gain_standard_error_by_topic",
        "topics_improved_share",
        "words_before",
        "words_after",
        "words_change",
        "words_change_standard_error_by_topic",
        "timings",
        "selection",
    )
    print(json.dumps({k: r[k] for k in keys}, indent=2))
    print("before", r["before"]["mean_utility"], "after", r["after"]["mean_utility"])
