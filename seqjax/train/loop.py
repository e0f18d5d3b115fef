"""``fit``: the training loop every experiment uses (resume, log, evaluate, checkpoint, stop safely).

    state = fit(state, train_step, batches, steps=2000, run=run, evaluate=lambda s: {...})

In order, for each step until ``steps``:

1. on entry, restore the newest good checkpoint of ``run`` (state *and* the data
   iterator's position) and drop metric lines written after it: a restarted command
   continues where the killed one last saved, bit for bit;
2. take the next batch, place it (``place_batch``, e.g. ``DataParallel.put_batch``), step;
3. stop with ``NonFiniteError`` naming the step if the loss or a gradient is not finite
   (the bad update is never applied or saved; the last good checkpoint stays);
4. every ``log_every`` steps: log the averaged train metrics and throughput, update the
   progress line; every ``eval_every`` steps: call ``evaluate(state)`` and log it;
5. save a checkpoint when ``run.checkpoints`` says the step is due, and at the end.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from seqjax.train.losses import add, summarize
from seqjax.train.run import Progress, Run


class NonFiniteError(RuntimeError):
    """A train step whose loss, gradient or update was NaN or infinite; ``fit`` did not apply it."""


FLAGS = ("finite", "loss_finite", "gradient_finite", "update_finite")  # train_step's checks, not metrics to log


def non_finite_message(metrics: dict, step: int) -> str:
    """Which of loss, gradient and update was non-finite at ``step``, with advice for that one."""
    loss, norm = float(metrics["loss"]), float(metrics["grad_norm"])
    if not bool(metrics.get("loss_finite", True)):
        return (f"the loss was non-finite at step {step} (loss={loss}): check that batch's inputs, lengths and labels "
                "(out-of-range lengths and labels give NaN under jit) and the loss function")
    if not bool(metrics.get("gradient_finite", True)):
        return (f"the gradient was non-finite at step {step} (loss={loss}, grad_norm={norm}): lower the learning rate "
                "or clip gradients (train.optimizer(..., clip_norm=1.0), or optax.clip_by_global_norm in your chain)")
    return (f"the update was non-finite at step {step} although the loss ({loss}) and the gradient (norm {norm}) were "
            "finite: the optimizer made it, so check its hyperparameters (a NaN or infinite learning rate or schedule value)")


@dataclasses.dataclass
class EarlyStopping:
    """Watches one evaluation metric: ``fit`` keeps the best state in ``run.best`` (a checkpoint beside
    the last K; with no run, in memory as ``best_state``) and stops after ``patience`` evaluations without an improvement of at least
    ``min_delta`` (``patience=None``: never stops, only keeps the best). ``mode`` is "min" for a
    loss or perplexity, "max" for accuracy or BLEU. Its counters are saved in every checkpoint, so a
    resumed run stops where the uninterrupted one would, and a stopped run stays stopped."""

    metric: str
    mode: str = "min"
    patience: int | None = None
    min_delta: float = 0.0
    best: float | None = None
    best_step: int | None = None
    bad_evaluations: int = 0
    stopped: bool = False
    best_state: object = dataclasses.field(default=None, repr=False, compare=False)  # fit without a run keeps it here

    def __post_init__(self):
        if self.mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping.mode must be 'min' or 'max', got {self.mode!r}")
        if isinstance(self.min_delta, bool) or not (isinstance(self.min_delta, (int, float)) and 0 <= self.min_delta < float("inf")):
            raise ValueError(f"EarlyStopping.min_delta must be a finite number >= 0, got {self.min_delta!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"EarlyStopping.patience must be >= 1 or None, got {self.patience}")

    def update(self, step: int, results: dict) -> bool:
        """Records an evaluation; True when it is the best so far."""
        if self.metric not in results:
            raise ValueError(f"EarlyStopping watches {self.metric!r}, which the evaluation does not report "
                             f"(it reports {sorted(k for k, v in results.items() if isinstance(v, float))})")
        value = float(results[self.metric])
        better = self.best is None or (value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta)
        if better:
            self.best, self.best_step, self.bad_evaluations = value, step, 0
        else:
            self.bad_evaluations += 1
            self.stopped = self.patience is not None and self.bad_evaluations >= self.patience
        return better

    def state(self) -> dict:
        return {k: getattr(self, k) for k in ("best", "best_step", "bad_evaluations", "stopped")}

    def restore(self, saved: dict) -> None:
        for k, v in saved.items():
            setattr(self, k, v)


def fit(state, train_step: Callable, batches, *, steps: int, run: Run | None = None,
        evaluate: Callable[[object], dict] | None = None, eval_every: int = 0, log_every: int = 50,
        place_batch: Callable | None = None, meta: Callable[[], dict] | None = None,
        on_log: Callable[[int, dict], None] | None = None, early_stopping: EarlyStopping | None = None) -> object:
    """Trains ``state`` to ``steps`` total updates; returns the final state (see the module doc).

    Args:
      state: a ``TrainState`` (fresh; replaced by the checkpoint when resuming).
      train_step: ``make_train_step(...)``.
      batches: an iterator with ``state()``/``restore()`` (``Batches``, ``TokenStream``).
      steps: the total number of updates (not "this many more").
      run: where to log and checkpoint; None trains in memory only.
      evaluate: ``state -> {metric: float}``, called every ``eval_every`` steps and at the end.
      place_batch: applied to each batch before the step (device placement, sharding).
      meta: extra JSON-able data to store in every checkpoint (config, vocabulary).
      on_log: called as ``on_log(step, train_metrics)`` after each log line.
      early_stopping: keep the best state by an evaluation metric in ``run.best`` and stop when it
        stops improving (``EarlyStopping``; needs ``evaluate`` and ``eval_every``).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if log_every < 1 or eval_every < 0:
        raise ValueError(f"log_every must be >= 1 and eval_every >= 0 (0: only at the end), got {log_every} and {eval_every}")
    if run is not None and not (callable(getattr(batches, "state", None)) and callable(getattr(batches, "restore", None))):
        raise TypeError(f"fit with a run directory checkpoints the data position, so batches must have state() and restore() "
                        f"(seqjax.data.Batches, TokenStream, Generated); got {type(batches).__name__}. Wrap a plain iterator "
                        "in one of those, or pass run=None to train without checkpoints")
    if early_stopping is not None and (evaluate is None or not eval_every):
        raise ValueError("early_stopping watches evaluations: pass evaluate= and eval_every=")
    if run is not None:
        restored = run.checkpoints.restore(state)
        if restored is not None:
            state, saved = restored
            if "data" in saved:  # a checkpoint written by Checkpointer.save without a data position
                batches.restore(saved["data"])
            if early_stopping is not None and "early_stopping" in saved:
                early_stopping.restore(saved["early_stopping"])
            print(f"resumed from {run.checkpoints.directory}/{int(state.step)}", flush=True)
        # lines after the restored step (or, with no checkpoint yet, any at all) belong to a killed attempt
        run.truncate_metrics(int(state.step))
    step = int(state.step)
    progress = Progress(steps)
    window, window_start, window_steps, paused = None, time.perf_counter(), 0, 0.0  # paused: eval/save time, not throughput
    last_eval = None

    def save(force: bool = False) -> None:
        if run is not None:
            watched = {"early_stopping": early_stopping.state()} if early_stopping is not None else {}
            run.checkpoints.save(state, {"data": batches.state(), **watched, **(meta() if meta else {})}, force=force)

    def watch(results: dict) -> None:
        if early_stopping is not None and early_stopping.update(step, results):
            if run is not None:
                run.best.save(state, {"early_stopping": early_stopping.state(), **(meta() if meta else {})}, force=True)
            else:
                early_stopping.best_state = state

    if early_stopping is not None and early_stopping.stopped:
        print(f"stopped early before (best {early_stopping.metric} {early_stopping.best:.4g} at step {early_stopping.best_step})", flush=True)
        return state
    while step < steps:
        try:
            batch = next(batches)
        except StopIteration:
            print(f"data exhausted after step {step}", flush=True)
            break
        state, metrics = train_step(state, place_batch(batch) if place_batch else batch)
        if not bool(metrics["finite"]):
            where = f"; the last good checkpoint is {run.checkpoints.directory}/{run.checkpoints.latest_step()}" if run and run.checkpoints.latest_step() is not None else ""
            raise NonFiniteError(non_finite_message(metrics, step + 1) + f"; the update was not applied{where}.")
        step += 1
        window = add(window, {k: v for k, v in metrics.items() if k not in FLAGS})
        window_steps += 1
        if step % log_every == 0 or step == steps:
            elapsed = time.perf_counter() - window_start - paused
            values = {k: np.asarray(v) if np.ndim(v) else float(np.asarray(v)) for k, v in window.items()}  # a confusion matrix stays an array
            logged = {"loss": values.pop("loss") / window_steps, "grad_norm": values.pop("grad_norm") / window_steps}
            unit = "examples" if "examples" in values else "tokens" if "count" in values else None
            if unit is not None:
                logged.update({k: v for k, v in summarize(values).items() if isinstance(v, float)})
                logged[f"{unit}_per_s"] = values["examples" if unit == "examples" else "count"] / max(elapsed, 1e-9)
            logged["steps_per_s"] = window_steps / max(elapsed, 1e-9)
            if run is not None:
                run.log(step, "train", logged)
            throughput = f" | {logged[f'{unit}_per_s']:,.0f} {'ex' if unit == 'examples' else 'tok'}/s" if unit else ""
            progress.update(step, f"| loss {logged['loss']:.4f}{throughput}")
            if on_log is not None:
                on_log(step, logged)
            window, window_start, window_steps, paused = None, time.perf_counter(), 0, 0.0  # paused: eval/save time, not throughput
        if evaluate is not None and ((eval_every and step % eval_every == 0) or step == steps):
            last_eval = step  # the last step is evaluated before its checkpoint, so the saved counters include it
            watch(_evaluate(evaluate, state, step, run, progress))
        save()
        if early_stopping is not None and early_stopping.stopped:
            print(f"\nstopping early at step {step}: {early_stopping.metric} has not improved for {early_stopping.patience} "
                  f"evaluations (best {early_stopping.best:.4g} at step {early_stopping.best_step}"
                  f"{', kept in ' + str(run.best.directory) if run is not None else ''})", flush=True)
            break
    progress.close()
    if evaluate is not None and last_eval != step:  # the data ran out, or a resumed run had nothing left to train
        watch(_evaluate(evaluate, state, step, run, progress))
    save(force=True)
    return state


def _evaluate(evaluate, state, step, run, progress) -> dict:
    results = evaluate(state)
    if run is not None:
        run.log(step, "eval", results)
    text = " ".join(f"{k} {v:.4g}" for k, v in results.items() if isinstance(v, float))
    if not progress.quiet:
        progress.stream.write(f"{'' if not progress.tty else chr(10)}eval @ {step}: {text}\n")
    return results
