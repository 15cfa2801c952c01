"""A round shows one progress bar that only grows, as the job page reads it."""

from training_jobs.rlhf.progress import SCALE, RoundBar


def test_stages_fill_their_shares_in_order():
    bar = RoundBar({"sample": 0.6, "score": 0.1, "rescore": 0.0, "finetune": 0.3}, False)
    seen = []
    for name, total in (("sample", 8), ("score", 2), ("rescore", 5), ("finetune", 3)):
        stage = bar[name]
        stage.reset(total=total)
        for _ in range(total):
            stage.update(1)
            seen.append(bar.n)
    assert seen == sorted(seen)
    assert seen[7] == 600 and seen[9] == 700 and seen[-1] == SCALE
    bar.close()
