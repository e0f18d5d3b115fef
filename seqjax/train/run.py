"""A run directory: config, vocabulary, metrics JSONL, checkpoints, samples, plots, progress.

    runs/<name>/
      config.json            the dataclass config of the run (rewritten on resume)
      vocab.json             the vocabulary, if the run has one (``Vocab.load`` reads it)
      metrics.jsonl          one JSON object per log line: {"step", "split", "time", metric: value, ...}
      checkpoints/<step>/    Orbax checkpoints (``seqjax.train.checkpoint``), the last K
      best/<step>/           the best state by an evaluation metric (``fit(..., early_stopping=...)``)
      samples/step_<n>.txt   generated text, if the experiment samples
      curves.png             every logged metric against the step, train and eval
      tensorboard/           event files, when tensorboardX or torch's SummaryWriter is installed

In a multi-process run (``seqjax.train.distributed``) every process opens the same directory: all
take part in each checkpoint, and process 0 alone writes the other files and the progress line.

Restarting the same command in the same directory resumes: ``fit`` restores the newest
checkpoint and ``truncate_metrics`` drops log lines written after it, so the curves
show each step once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import sys
import time

import jax

from seqjax.train.checkpoint import CheckpointError, Checkpointer


def write_atomic(path: pathlib.Path, text: str) -> None:
    """Writes ``text`` to a temporary file beside ``path`` and renames it over ``path``: a reader sees the
    old contents or the new ones, never a mixture, whatever kills the process."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Progress:
    """A one-line progress bar on a terminal; plain log lines otherwise (CI, files)."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.quiet = jax.process_index() != 0  # in a multi-process run, process 0 reports for all

    def update(self, step: int, text: str) -> None:
        if self.quiet:
            return
        frac = min(step / max(self.total, 1), 1.0)
        elapsed = time.perf_counter() - self.start
        if self.tty:
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            self.stream.write(f"\r[{bar}] {step}/{self.total} {text} {elapsed:6.1f}s ")
        else:
            self.stream.write(f"step {step}/{self.total} {text} ({elapsed:.1f}s)\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()


def _tensorboard_writer(directory: pathlib.Path):
    for module in ("tensorboardX", "torch.utils.tensorboard"):
        try:
            writer = __import__(module, fromlist=["SummaryWriter"]).SummaryWriter
            return writer(str(directory))
        except Exception:  # noqa: BLE001 - not installed (or its tensorboard dependency is missing)
            continue
    return None


class Run:
    """The files of one experiment run; see the module docstring for the layout."""

    _said_no_tensorboard = False  # the note about a missing TensorBoard writer is printed once per process

    def __init__(self, directory: str | pathlib.Path, config=None, *, checkpoint_every: int = 1000, keep: int = 3,
                 tensorboard: bool | None = None):
        """``tensorboard``: None writes events when a writer is installed (tensorboardX, or torch's with the
        tensorboard package) and otherwise says once that it does not; True requires one (an error
        says what to install); False writes none."""
        if not str(directory).strip():
            raise ValueError("the run directory must be named (e.g. --out_dir=runs/mine), got an empty path")
        self.dir = pathlib.Path(directory)
        self.primary = jax.process_index() == 0  # in a multi-process run, only process 0 writes the run's files
        if config is not None:
            data = json.loads(json.dumps(dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config), default=str))
            self._check_same_config(data)
        self.dir.mkdir(parents=True, exist_ok=True)
        if config is not None and self.primary:
            write_atomic(self.dir / "config.json", json.dumps(data, indent=1))
        self.checkpoints = Checkpointer(self.dir / "checkpoints", every=checkpoint_every, keep=keep)
        self.metrics_path = self.dir / "metrics.jsonl"
        self._tb = _tensorboard_writer(self.dir / "tensorboard") if tensorboard is not False and self.primary else None
        if self._tb is None and tensorboard and self.primary:
            raise RuntimeError("Run(tensorboard=True) needs a TensorBoard writer: pip install tensorboardX "
                               "(or tensorboard, for torch's SummaryWriter)")
        if self._tb is None and tensorboard is None and self.primary and not Run._said_no_tensorboard:
            Run._said_no_tensorboard = True
            print("note: no TensorBoard writer is installed (pip install tensorboardX), so the metrics go to "
                  "metrics.jsonl and curves.png only", file=sys.stderr)

    @property
    def best(self) -> Checkpointer:
        """The best state by an evaluation metric (``fit(..., early_stopping=...)``), in ``best/``."""
        if getattr(self, "_best", None) is None:
            self._best = Checkpointer(self.dir / "best", every=1, keep=1)
        return self._best

    def _check_same_config(self, data: dict) -> None:
        """A directory that holds checkpoints is resumed; it must be resumed with the config that wrote them,
        else another run would continue silently under the old one's name (and overwrite its config)."""
        saved_path = self.dir / "config.json"
        if not saved_path.exists() or not any((self.dir / "checkpoints").glob("[0-9]*")):
            return
        try:
            saved = json.loads(saved_path.read_text())
        except (OSError, ValueError):
            return  # an unreadable config.json (killed while writing, by an older version) is rewritten
        changed = sorted(k for k in set(saved) | set(data) if saved.get(k) != data.get(k))
        if changed:
            shown = ", ".join(f"--{k}={saved.get(k)!r} there, {data.get(k)!r} here" for k in changed[:4])
            raise CheckpointError(f"{self.dir} holds a run with other settings ({shown}{', ...' if len(changed) > 4 else ''}); "
                                  "resuming would continue that run under these settings. Use another --out_dir, or the "
                                  "same settings to resume it")

    def save_vocab(self, vocab) -> None:
        if self.primary:
            vocab.save(self.dir / "vocab.json")

    def check_vocab(self, vocab, name: str = "vocab.json") -> None:
        """Saves ``vocab`` as ``name``; in a run directory that already has one (a resume), it must be
        the same vocabulary, else ``CheckpointError`` says so and nothing is written: checkpoints
        trained on other token ids would silently mean other words."""
        from seqjax.data.vocab import Vocab

        path = self.dir / name
        if path.exists():
            saved = Vocab.load(path)
            if saved.tokens != vocab.tokens:
                changed = next((i for i, (a, b) in enumerate(zip(saved.tokens, vocab.tokens)) if a != b), min(len(saved), len(vocab)))
                raise CheckpointError(f"{path} holds another vocabulary than this run's ({len(saved)} vs {len(vocab)} tokens, first "
                                      f"difference at id {changed}): other data or min_freq? Use another out_dir, or the same settings")
            return
        if self.primary:
            vocab.save(path)

    def log(self, step: int, split: str, metrics: dict) -> None:
        """Appends one line to metrics.jsonl (and TensorBoard): ``split`` is "train", "eval", ..."""
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        line = {"step": int(step), "split": split, "time": time.time(), **clean}
        if not self.primary:
            return
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(line) + "\n")
        if self._tb is not None:
            for name, value in clean.items():
                self._tb.add_scalar(f"{split}/{name}", value, int(step))

    def metrics(self) -> list[dict]:
        """The logged lines. A last line cut short (the process was killed, or the disk filled, while
        writing it) is left out; a malformed line elsewhere is an error naming it."""
        if not self.metrics_path.exists():
            return []
        text = self.metrics_path.read_text()
        lines = text.splitlines()
        out = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                if number == len(lines) and not text.endswith("\n"):
                    break  # a partial last line
                raise CheckpointError(f"{self.metrics_path}, line {number}: not a JSON metrics line: {line[:80]!r}") from None
        return out

    def truncate_metrics(self, step: int) -> None:
        """Drops log lines after ``step`` (they belong to a run that was killed before its next checkpoint)
        and a partial last line; the file is replaced atomically."""
        if not self.primary:
            return
        kept = [m for m in self.metrics() if m["step"] <= step]
        write_atomic(self.metrics_path, "".join(json.dumps(m) + "\n" for m in kept))

    def write_sample(self, step: int, text: str) -> pathlib.Path:
        path = self.dir / "samples" / f"step_{step}.txt"
        if self.primary:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
        return path

    def plot(self, path: str | pathlib.Path | None = None, skip=("time", "tokens", "finite", "invalid")) -> pathlib.Path | None:
        """One panel per metric against the step, a line per split; returns the PNG's path."""
        lines = self.metrics() if self.primary else []
        names = sorted({k for m in lines for k in m if k not in ("step", "split", *skip)})
        if not names:
            return None
        from seqjax.core.plots import pyplot

        plt = pyplot()

        cols = min(3, len(names))
        rows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
        for ax, name in zip(axes.flat, names):
            for split in sorted({m["split"] for m in lines}):
                points = [(m["step"], m[name]) for m in lines if m["split"] == split and name in m]
                if points:
                    xs, ys = zip(*points)
                    ax.plot(xs, ys, marker="o" if len(points) < 30 else None, ms=3, label=split)
            ax.set_title(name)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            ax.legend()
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        fig.suptitle(self.dir.name)
        fig.tight_layout()
        path = pathlib.Path(path) if path else self.dir / "curves.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        self.checkpoints.close()
