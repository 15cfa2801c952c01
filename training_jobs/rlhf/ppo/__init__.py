"""PPO with two reward models (Touvron et al., 2023, §3.2.3), without Django.

    python -m training_jobs.rlhf ppo --prompts prompts.jsonl --policy rs-policy/ \
        --helpfulness-model rm/helpfulness --safety-model rm/safety --output-dir out/
    python -m training_jobs.rlhf ppo --preset cpu-small ...          # minutes on a CPU
    torchrun --nproc-per-node 8 -m training_jobs.rlhf ppo ... [--fsdp]  # a GPU node

- ``config``: every option, the paper's values as defaults, and a small CPU preset
- ``rollout``: which prompts an iteration answers, the rollout engines (the actor itself, or
  in-process vLLM with the actor's weights loaded every iteration)
- ``rewards``: R_s / R_h scores on the raw scale, the paper's routing, routing shares
- ``losses``: whitening, k1 / k3, the reward shaped at the answer's last token, GAE, the
  clipped policy and value losses (small pure functions)
- ``batch``: prompt and answer tokens into model inputs; log-prob and value forwards
- ``critic``: the value model, initialised from the helpfulness reward model
- ``trainer``: setup / generate_trajectory / ppo_step / log_metrics / save_checkpoint
- ``checkpoint``: atomic resumable state, the best policy so far, the published policy

OUTPUT_DIR ends up holding the chosen policy (a transformers causal-LM folder that the CPU
backend and vLLM load), metrics.json, iterations.jsonl (one line of metrics per iteration),
heldout.jsonl (held-out answers at each evaluation) and ppo.json (what it was made from).
"""
