"""Rejection sampling (Touvron et al., 2023, §3.2.3), without Django.

    python -m training_jobs.rlhf round --prompts prompts.jsonl --policy policy/ \
        --helpfulness-model rm/helpfulness --safety-model rm/safety --k 8 --output-dir out/

- ``sample``: K answers per prompt from the policy through Margin's inference backends
- ``reward``: R_h / R_s routing on the paper's scale (sigmoid of the raw reward)
- ``select``: the best answer per prompt; ``pool``: pooled with all earlier iterations' best
- ``loss``, ``finetune``: SFT on the pool, loss on response tokens only
- ``sweep``: best and median reward over K and temperature (Figures 7 and 8) → sweep.json
- ``rounds``: sample, select and fine-tune into one folder (what the Django job runs)
"""
