"""The PPO recipe: `setup`, then per iteration `generate_trajectory`, `ppo_step`,
`log_metrics` and `save_checkpoint` (torchtune's shape), with held-out evaluation for early
stopping. `train()` runs it all; `main(cfg)` is what the command line calls.
"""

from __future__ import annotations

import contextlib
import json
import random
import resource
import time
from pathlib import Path
from typing import Any

import torch

from mlcore import distributed
from mlcore.optim import adamw
from mlcore.progress import Progress
from training_jobs.rlhf.ppo import checkpoint as ckpt
from training_jobs.rlhf.ppo.batch import (
    by_length,
    collate,
    pad_rows,
    policy_forward,
    value_forward,
)
from training_jobs.rlhf.ppo.config import PPOConfig, as_dict, check
from training_jobs.rlhf.ppo.losses import (
    gae,
    moments,
    policy_loss,
    shaped_rewards,
    value_loss,
    whiten_with,
)
from training_jobs.rlhf.ppo.metrics import (
    Trajectory,
    global_means,
    provenance,
    trajectory_metrics,
)
from training_jobs.rlhf.ppo.rewards import score_answers
from training_jobs.rlhf.ppo.rollout import (
    Prompt,
    RolloutEngine,
    Rollouts,
    iteration_prompts,
    load_prompts,
    rank_positions,
    rollouts_from,
    sample_seed,
    split_heldout,
)

HELDOUT_SEED_OFFSET = 7919


class PPOTrainer:
    def __init__(self, cfg: PPOConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.output_dir)
        self.iteration = 0
        self.best = {"heldout_reward": None, "iteration": None}
        self.bad_evaluations = 0
        self.history: list[dict[str, Any]] = []
        self.actor_stepped = False  # the actor is still pi_0

    # -- setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from training_jobs.rlhf.ppo.critic import load_critic
        from training_jobs.rlhf.reward import RewardModels

        cfg, r = self.cfg, self.cfg.rollout
        self.dist = distributed.setup()
        check(cfg, self.dist.world)
        torch.manual_seed(cfg.seed)
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
        self.tokenizer = AutoTokenizer.from_pretrained(r.policy)
        pad = self.tokenizer.pad_token_id
        self.pad_id = self.tokenizer.eos_token_id if pad is None else pad
        self._load_prompts()

        device = self.dist.device
        # Under FSDP the models load on the CPU and each process moves only its shards to its
        # GPU (fully_shard does), so a model larger than one GPU can be trained.
        if cfg.fsdp and self.dist.world > 1:
            device = torch.device("cpu")
        actor = AutoModelForCausalLM.from_pretrained(r.policy, dtype=torch.float32).to(device)
        self.stop_ids = _stop_ids(self.tokenizer, actor.generation_config)
        ref = AutoModelForCausalLM.from_pretrained(r.policy, dtype=torch.float32).to(device)
        critic, self.critic_source = load_critic(
            cfg.rewards.helpfulness_model, r.policy, self.tokenizer
        )
        for model in (actor, ref, critic):
            _no_dropout(model)
        ref.eval().requires_grad_(False)
        if cfg.gradient_checkpointing:
            actor.gradient_checkpointing_enable()
            critic.classifier.gradient_checkpointing_enable()
        self.actor = distributed.wrap(actor, self.dist, fsdp=cfg.fsdp)
        self.critic = distributed.wrap(critic.to(device), self.dist, fsdp=cfg.fsdp)
        self.ref = distributed.wrap(ref, self.dist, fsdp=cfg.fsdp)
        device = self.dist.device
        o = cfg.optim
        betas = (o.beta1, o.beta2)
        self.actor_optim = adamw(
            self.actor, lr=o.lr, betas=betas, eps=o.eps, weight_decay=o.weight_decay
        )
        self.critic_optim = adamw(
            self.critic, lr=o.critic_lr, betas=betas, eps=o.eps, weight_decay=o.weight_decay
        )
        self.models = RewardModels(
            cfg.rewards.helpfulness_model,
            cfg.rewards.safety_model,
            cfg.rewards.safety_threshold,
            cfg.rewards.pack_tokens,
        )
        self.engine = RolloutEngine(r.backend, self.tokenizer, r.policy, r)
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if cfg.bf16 and device.type == "cuda"
            else contextlib.nullcontext()
        )
        if cfg.resume:
            self._resume()

    def _load_prompts(self) -> None:
        r = self.cfg.rollout
        prompts, dropped = load_prompts(r.prompts, self.tokenizer, r.max_prompt_tokens)
        if r.heldout_prompts:
            heldout, dropped_heldout = load_prompts(
                r.heldout_prompts, self.tokenizer, r.max_prompt_tokens
            )
            dropped += dropped_heldout
        else:
            prompts, heldout = split_heldout(prompts, r.heldout_count)
        if not prompts:
            raise ValueError(f"no prompt of {r.prompts} fits --max-prompt-tokens")
        self.prompts, self.heldout, self.dropped_prompts = prompts, heldout, dropped

    def _resume(self) -> None:
        state = ckpt.latest_state(self.out)
        if state is None:
            return
        distributed.load_full_state(
            self.actor, self.actor_optim, state["actor"], state["actor_optim"]
        )
        distributed.load_full_state(
            self.critic, self.critic_optim, state["critic"], state["critic_optim"]
        )
        self.iteration = state["iteration"]
        self.actor_stepped = self.iteration > 0
        self.best = state["best"]
        self.bad_evaluations = state["bad_evaluations"]
        self.history = state["history"]
        if self.dist.main:
            self._truncate_logs()

    def _truncate_logs(self) -> None:
        """Drop log lines of iterations after the checkpoint (they will be run again) and a
        line torn by the kill."""
        for name in ("iterations.jsonl", "heldout.jsonl"):
            path = self.out / name
            if not path.is_file():
                continue
            kept = []
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line)["iteration"] <= self.iteration:
                        kept.append(line + "\n")
                except (ValueError, KeyError, TypeError):
                    continue
            path.write_text("".join(kept), encoding="utf-8")

    # -- one iteration -------------------------------------------------------------------

    def generate_trajectory(self, iteration: int) -> Trajectory:
        """Answer this iteration's prompts, score them and shape the per-token rewards.

        V_old of the rows the first mini-batch trains on comes from the critic's training
        forward (`ppo_step`), so the critic reads those rows once, not twice; advantages follow
        there, once every V_old is known."""
        cfg, o = self.cfg, self.cfg.optim
        positions = rank_positions(
            o.rollouts, o.mini_batch, self.dist.world, self.dist.rank, iteration, cfg.seed
        )
        order = iteration_prompts(len(self.prompts), o.rollouts, iteration, cfg.seed)
        prompts = [self.prompts[order[p]] for p in positions]
        seeds = [sample_seed(cfg.seed, iteration, p, o.rollouts) for p in positions]
        rollouts = self._generate(prompts, positions, seeds)

        started = time.perf_counter()
        pending = list(range(min(self._local_mini_batch(), len(rollouts))))
        logprobs, ref_logprobs, mask = self._logprob_forwards(rollouts)
        values = self._value_forwards(rollouts, range(len(pending), len(rollouts)))
        scored = score_answers(
            self.models,
            [p.messages for p in rollouts.prompts],
            rollouts.texts,
            [p.safety for p in rollouts.prompts],
            rollouts.truncated,
            cfg.rewards.truncation_penalty,
        )
        ones = torch.ones_like(scored.raw)
        scores = scored.raw
        if cfg.rewards.whiten_score:
            scores = whiten_with(scored.raw, distributed.all_sum(moments(scored.raw, ones)))
        rewards = shaped_rewards(scores, logprobs, ref_logprobs, mask, cfg.objective.beta)
        return Trajectory(
            rollouts=rollouts,
            mask=mask,
            logprobs=logprobs,
            ref_logprobs=ref_logprobs,
            values=values,
            rewards=rewards,
            raw_scores=scored.raw,
            scores=scores,
            reasons=scored.reasons,
            seconds_generation=rollouts.seconds,
            seconds_scoring=time.perf_counter() - started,
            values_pending=pending,
        )

    def _local_mini_batch(self) -> int:
        return self.cfg.optim.mini_batch // self.dist.world

    def _advantages(self, traj: Trajectory) -> None:
        """GAE advantages and returns of every row (whitened over the batch if asked)."""
        objective = self.cfg.objective
        advantages, returns = gae(
            traj.rewards, traj.values, traj.mask, objective.gamma, objective.lam
        )
        if objective.whiten_advantages:
            stats = distributed.all_sum(moments(advantages, traj.mask))
            advantages = whiten_with(advantages, stats) * traj.mask
        traj.advantages, traj.returns = advantages, returns

    def _generate(self, prompts: list[Prompt], positions: list[int], seeds: list[int]):
        started = time.perf_counter()
        sharded = distributed.is_sharded(self.actor)
        full = distributed.full_state(self.actor, everywhere=True)[0] if sharded else None
        self.engine.sync(distributed.unwrap(self.actor), full)
        # The transformers engine runs the actor's own module: under bf16 autocast like training.
        autocast = self.autocast if self.engine.kind == "transformers" else contextlib.nullcontext()
        with autocast:
            completions, _ = self.engine.generate(prompts, seeds) if prompts else ([], 0.0)
        return rollouts_from(
            prompts, positions, completions, time.perf_counter() - started, self.stop_ids
        )

    @torch.no_grad()
    def _logprob_forwards(self, rollouts: Rollouts):
        """log pi_old, log pi_0 of every answer token and the answer mask; (B, R) each.

        log pi_old is the reference's own forward until the actor's first step (the same
        function then, so KL is exactly 0), then the engine's draws or an actor forward
        (`--old-logprobs`)."""
        actor = distributed.unwrap(self.actor)
        source = self._old_logprobs_source(rollouts)
        temperature = self.cfg.rollout.temperature

        def forward(batch):
            ref, _ = policy_forward(self.ref, batch, temperature)
            logp = policy_forward(actor, batch, temperature)[0] if source == "forward" else ref
            return {"ref": ref, "logp": logp}

        rows = self._forward_rows(rollouts, range(len(rollouts)), forward)
        if source == "engine":
            rows["logp"] = [torch.tensor(x, dtype=torch.float32) for x in rollouts.logprobs]
        width = _answer_width(rollouts)
        mask = pad_rows([torch.ones(len(r)) for r in rollouts.response_ids], width)
        return pad_rows(rows["logp"], width), pad_rows(rows["ref"], width), mask

    @torch.no_grad()
    def _value_forwards(self, rollouts: Rollouts, wanted) -> torch.Tensor:
        """V (B, R) of the `wanted` rows' answer tokens; 0 on the other rows."""
        critic = distributed.unwrap(self.critic)
        rows = self._forward_rows(
            rollouts, wanted, lambda batch: {"value": value_forward(critic, batch)}
        ).get("value", [None] * len(rollouts))
        return pad_rows([torch.zeros(0) if x is None else x for x in rows], _answer_width(rollouts))

    def _forward_rows(self, rollouts: Rollouts, wanted, forward) -> dict[str, list[Any]]:
        """`forward(batch)`'s (b, R) tensors for the `wanted` rows, cut to each answer's
        length, in micro-batches of similar lengths; None for the rows not wanted."""
        out: dict[str, list[Any]] = {}
        order = by_length(list(wanted), _lengths(rollouts))
        step = self.cfg.optim.micro_batch
        for start in range(0, len(order), step):
            part = order[start : start + step]
            batch = collate(
                [rollouts.prompt_ids[i] for i in part],
                [rollouts.response_ids[i] for i in part],
                self.pad_id,
            ).to(self.dist.device)
            with self.autocast:
                tensors = forward(batch)
            for name, tensor in tensors.items():
                column = out.setdefault(name, [None] * len(rollouts))
                for row, i in zip(tensor, part, strict=True):
                    column[i] = row[: len(rollouts.response_ids[i])].float().cpu()
        return out

    def _old_logprobs_source(self, rollouts: Rollouts) -> str:
        """Where log pi_old comes from: reference (before the actor's first step), engine or
        forward."""
        if not self.actor_stepped:
            return "reference"
        wanted = self.cfg.rollout.old_logprobs
        if wanted == "auto":
            exact = self.engine.kind == "transformers" and not self.cfg.bf16
            wanted = "engine" if exact else "forward"
        if wanted == "engine" and any(
            len(lp) != len(ids)
            for lp, ids in zip(rollouts.logprobs, rollouts.response_ids, strict=True)
        ):
            raise RuntimeError(f"the {self.engine.kind} engine gave no log-probs of its draws")
        return wanted

    def ppo_step(self, traj: Trajectory, iteration: int) -> dict[str, float]:
        """One clipped PPO gradient step per mini-batch (per epoch) on actor and critic.

        The critic steps on the first mini-batch first: its forward there gives those rows'
        V_old, then every row's advantages are computed and the actor follows."""
        cfg, o = self.cfg, self.cfg.optim
        local = self._local_mini_batch()
        size = len(traj.rollouts)
        totals: dict[str, float] = {}
        started = time.perf_counter()
        self.actor.train()
        self.critic.train()

        def add(step: dict[str, float]) -> None:
            for name, value in step.items():
                totals[name] = totals.get(name, 0.0) + value

        critic_first = bool(traj.values_pending)
        if critic_first:
            add(self._critic_first(traj))
        self._advantages(traj)
        for epoch in range(o.ppo_epochs):
            order = list(range(size))
            if epoch:
                random.Random(f"{cfg.seed}:epoch:{iteration}:{epoch}").shuffle(order)
            for start in range(0, size, local):
                critic = bool(epoch or start or not critic_first)
                add(self._mini_batch(traj, order[start : start + local], critic))
        self.actor.eval()
        self.critic.eval()
        tokens = totals.pop("tokens")
        means = global_means(totals, tokens)
        return {**means, "seconds_training": time.perf_counter() - started}

    def _micro_batches(self, traj: Trajectory, indices: list[int]):
        """(is the last, collated micro-batch, its rows) over `indices` sorted by length, and
        the answer tokens of the whole mini-batch on all processes."""
        o, dev = self.cfg.optim, self.dist.device
        tokens = distributed.all_sum(traj.mask[indices].sum().reshape(1))[0].item()
        indices = by_length(indices, _lengths(traj.rollouts))
        micro = [indices[i : i + o.micro_batch] for i in range(0, len(indices), o.micro_batch)]
        r = traj.rollouts

        def batches():
            for n, part in enumerate(micro):
                batch = collate(
                    [r.prompt_ids[i] for i in part], [r.response_ids[i] for i in part], self.pad_id
                ).to(dev)
                yield n == len(micro) - 1, batch, part

        return batches(), tokens

    def _critic_first(self, traj: Trajectory) -> dict[str, float]:
        """The critic's step on the first mini-batch, whose forward gives those rows' V_old
        (written into `traj.values`): V = V_old there, so the value clip is inactive."""
        cfg, dev, world = self.cfg, self.dist.device, self.dist.world
        batches, tokens = self._micro_batches(traj, traj.values_pending)
        totals = {"value_loss": 0.0, "value_clip_fraction": 0.0}
        for last, batch, part in batches:
            width = batch.response.shape[1]
            with self._sync(last, (self.critic,)):
                with self.autocast:
                    values = value_forward(self.critic, batch)
                old = values.detach().float()
                rewards = traj.rewards[part, :width].to(dev)
                _, returns = gae(rewards, old, batch.mask, cfg.objective.gamma, cfg.objective.lam)
                vl, _ = value_loss(values, old, returns, batch.mask, cfg.objective.value_clip)
                (vl.sum() * world / tokens).backward()
            traj.values[part, :width] = old.cpu()
            totals["value_loss"] += float(vl.detach().sum())
        self._step(((self.critic, self.critic_optim),))
        traj.values_pending = []
        return totals

    def _mini_batch(self, traj: Trajectory, indices: list[int], critic: bool) -> dict[str, float]:
        """Forward and backward one mini-batch in micro-batches, then step the optimisers
        (the critic's too unless `critic` is False: it has stepped on these rows already).

        Both losses are sums over the mini-batch's answer tokens (all processes) divided by
        their count; DDP and FSDP average gradients over processes, hence the world factor.
        """
        cfg, dev, world = self.cfg, self.dist.device, self.dist.world
        batches, tokens = self._micro_batches(traj, indices)
        totals = dict.fromkeys(
            ("tokens", "policy_loss", "clip_fraction", "value_loss", "value_clip_fraction")
            + ("entropy", "approx_kl"),
            0.0,
        )
        pairs = [(self.actor, self.actor_optim)]
        if critic:
            pairs.append((self.critic, self.critic_optim))
        models = [model for model, _ in pairs]
        for last, batch, part in batches:
            width = batch.response.shape[1]
            pick = {
                name: getattr(traj, name)[part, :width].to(dev)
                for name in ("logprobs", "advantages", "values", "returns")
            }
            with self._sync(last, models):
                with self.autocast:
                    logp, ent = policy_forward(
                        self.actor, batch, cfg.rollout.temperature, with_entropy=True
                    )
                    values = value_forward(self.critic, batch) if critic else None
                pl, clipped = policy_loss(
                    logp, pick["logprobs"], pick["advantages"], batch.mask, cfg.objective.clip
                )
                loss = pl.sum()
                if values is not None:
                    clip = cfg.objective.value_clip
                    vl, v_clipped = value_loss(
                        values, pick["values"], pick["returns"], batch.mask, clip
                    )
                    loss = loss + vl.sum()
                    totals["value_loss"] += float(vl.detach().sum())
                    totals["value_clip_fraction"] += float(v_clipped.sum())
                (loss * world / tokens).backward()
            log_ratio = (logp.detach() - pick["logprobs"]) * batch.mask
            step = {
                "tokens": batch.mask.sum(),
                "policy_loss": pl.detach().sum(),
                "clip_fraction": clipped.sum(),
                "entropy": ent.sum(),
                "approx_kl": 0.5 * (log_ratio**2).sum(),
            }
            for name, value in step.items():
                totals[name] += float(value)
        self._step(pairs)
        self.actor_stepped = True
        return totals

    def _step(self, pairs) -> None:
        """Clip each model's gradient norm, step its optimiser and clear its gradients."""
        for model, optimizer in pairs:
            if self.cfg.optim.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.cfg.optim.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    def _sync(self, last: bool, models):
        """Gradient all-reduce of `models` only on a mini-batch's last micro-batch."""
        stack = contextlib.ExitStack()
        if self.dist.world == 1:
            return stack
        for model in models:
            if distributed.is_sharded(model):
                model.set_requires_gradient_sync(last)
            elif not last:
                stack.enter_context(model.no_sync())
        return stack

    # -- metrics, evaluation, checkpoints -----------------------------------------------

    def evaluate(self, iteration: int) -> float:
        """Mean raw R_c of one answer per held-out prompt (the same sampling seeds each time),
        over all processes; the answers go to heldout.jsonl."""
        mine = list(range(self.dist.rank, len(self.heldout), self.dist.world))
        prompts = [self.heldout[i] for i in mine]
        seeds = [sample_seed(self.cfg.seed + HELDOUT_SEED_OFFSET, 0, i, 1) for i in mine]
        rollouts = self._generate(prompts, mine, seeds)
        scored = score_answers(
            self.models,
            [p.messages for p in prompts],
            rollouts.texts,
            [p.safety for p in prompts],
            rollouts.truncated,
        )
        rows = [
            {
                "iteration": iteration,
                "key": p.key,
                "prompt": p.messages,
                "safety": p.safety,
                "response": text,
                "reward": float(value),
                "routed": reason,
                "truncated": cut,
            }
            for p, text, value, reason, cut in zip(
                prompts,
                rollouts.texts,
                scored.raw,
                scored.reasons,
                rollouts.truncated,
                strict=True,
            )
        ]
        gathered = distributed.gather_objects(rows)
        if self.dist.main:
            with open(self.out / "heldout.jsonl", "a", encoding="utf-8") as handle:
                for part in gathered:
                    for row in part:
                        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return global_means({"reward": float(scored.raw.sum())}, len(prompts))["reward"]

    def consider(self, iteration: int, heldout: float) -> bool:
        """Record a held-out score; keep the policy if it is the best; True to stop early."""
        best = self.best["heldout_reward"]
        if best is None or heldout > best:
            self.best = {"heldout_reward": heldout, "iteration": iteration}
            self.bad_evaluations = 0
            self._save_policy(self.out / ckpt.BEST)
        else:
            self.bad_evaluations += 1
        cfg = self.cfg
        return bool(
            cfg.patience
            and self.bad_evaluations >= cfg.patience
            and iteration >= cfg.min_iterations
        )

    def _save_policy(self, folder: Path) -> None:
        state, _ = distributed.full_state(self.actor)
        if self.dist.main:
            ckpt.save_policy(folder, distributed.unwrap(self.actor), state, self.tokenizer)
        distributed.barrier()

    def log_metrics(self, progress_stage, iteration: int, metrics: dict[str, float]) -> None:
        record = {"iteration": iteration, **metrics}
        self.history.append(record)
        progress_stage.update(1, **metrics)
        if self.dist.main:
            with open(self.out / "iterations.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    def save_checkpoint(self, iteration: int) -> None:
        actor, actor_optim = distributed.full_state(self.actor, self.actor_optim)
        critic, critic_optim = distributed.full_state(self.critic, self.critic_optim)
        if self.dist.main:
            state = {
                "iteration": iteration,
                "actor": actor,
                "actor_optim": actor_optim,
                "critic": critic,
                "critic_optim": critic_optim,
                "best": self.best,
                "bad_evaluations": self.bad_evaluations,
                "history": self.history,
                "config": as_dict(self.cfg),
            }
            ckpt.save_state(self.out, iteration, state, self.cfg.keep_checkpoints)
        distributed.barrier()

    # -- the whole run -------------------------------------------------------------------

    def train(self) -> dict[str, Any]:
        cfg = self.cfg
        progress = Progress({"ppo": 1.0}, bar=cfg.progress)
        stage = progress.stage("ppo", total=cfg.iterations)
        if self.iteration:
            stage.update(self.iteration, message=f"resumed after iteration {self.iteration}")
        elif self.heldout:
            heldout = self.evaluate(0)
            self.consider(0, heldout)
            stage.log(heldout_reward=heldout, message="held-out mean R_c of the start policy")
        stopped_early = False
        started = time.perf_counter()
        for iteration in range(self.iteration, cfg.iterations):
            traj = self.generate_trajectory(iteration)
            metrics = trajectory_metrics(traj)
            metrics.update(self.ppo_step(traj, iteration))
            metrics["rollouts_per_second"] = cfg.optim.rollouts / (
                metrics["seconds_generation"]
                + metrics["seconds_scoring"]
                + metrics["seconds_training"]
            )
            done = iteration + 1
            if self.heldout and (done % cfg.eval_every == 0 or done == cfg.iterations):
                metrics["heldout_reward"] = self.evaluate(done)
                stopped_early = self.consider(done, metrics["heldout_reward"])
            self.log_metrics(stage, done, metrics)
            if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < cfg.iterations:
                self.save_checkpoint(done)
            if stopped_early:
                break
        progress.close()
        return self._finish(stopped_early, time.perf_counter() - started)

    def _finish(self, stopped_early: bool, seconds: float) -> dict[str, Any]:
        if not self.heldout:
            self._save_policy(self.out / ckpt.BEST)
            self.best = {"heldout_reward": None, "iteration": len(self.history)}
        summary = {
            "method": "ppo",
            "iterations": len(self.history),
            "stopped_early": stopped_early,
            "best": self.best,
            "world_size": self.dist.world,
            "critic_initialised_from": self.critic_source,
            "prompts": len(self.prompts),
            "heldout_prompts": len(self.heldout),
            "prompts_left_out_for_length": self.dropped_prompts,
            "seconds": round(seconds, 1),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
            "last": self.history[-1] if self.history else None,
        }
        if self.dist.main:
            ckpt.publish_policy(self.out / ckpt.BEST, self.out)
            (self.out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
            (self.out / "ppo.json").write_text(json.dumps(provenance(self.cfg), indent=2) + "\n")
            ckpt.clear_resumable(self.out)
        self.engine.close()
        distributed.barrier()
        return summary


def _answer_width(rollouts: Rollouts) -> int:
    return max((len(x) for x in rollouts.response_ids), default=1)


def _lengths(rollouts: Rollouts) -> list[int]:
    return [
        len(p) + len(r) for p, r in zip(rollouts.prompt_ids, rollouts.response_ids, strict=True)
    ]


def _no_dropout(model: torch.nn.Module) -> None:
    """PPO's ratio compares two forwards of the same weights: no dropout anywhere."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "attention_dropout"):
        config.attention_dropout = 0.0


def _stop_ids(tokenizer, generation_config) -> set[int]:
    from inference.backends.transformers_cpu import _stop_ids as stop_ids

    return stop_ids(tokenizer, generation_config)


def main(cfg: PPOConfig) -> dict[str, Any]:
    """Run PPO as configured; return the summary (also in OUTPUT_DIR/metrics.json)."""
    from training_jobs.rlhf.ppo.config import apply_preset

    trainer = PPOTrainer(apply_preset(cfg))
    trainer.setup()
    summary = trainer.train()
    # On an error the process exits without this barrier (torchrun stops the others), so the
    # error is reported instead of every process waiting for the one that failed.
    distributed.teardown()
    return summary
