"""Fault trials: SIGKILL at random moments of a training run (also during checkpoint writes and
metric logging), and a full disk while checkpointing and while logging. Each run resumes to the
state of an uninterrupted run, bit for bit, with every metric logged exactly once and no checkpoint
left unreadable."""

import errno
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.fault_trainer import STEPS
from tests.conftest import xla_flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": xla_flags(1)}
TRIALS = int(os.environ.get("SEQJAX_FAULT_TRIALS", "4"))  # 4 in the suite (6 kills, ~1 min on 2 cores); more for a stress run


def _train(run_dir, **kw):
    return subprocess.Popen([sys.executable, "-m", "tests.fault_trainer", str(run_dir)], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)


def _logged_steps(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [m["step"] for m in lines if m["split"] == "train"]


@pytest.mark.slow
def test_sigkill_at_random_moments_resumes_bit_identical(tmp_path):
    straight = _train(tmp_path / "straight")
    start = time.time()
    assert straight.wait(timeout=300) == 0, straight.stderr.read()[-2000:]
    duration = time.time() - start
    reference = (tmp_path / "straight" / "final.sha256").read_text()
    rng = np.random.default_rng(2026)
    kills = 0
    for trial in range(TRIALS):
        run_dir = tmp_path / f"trial{trial}"
        # kill once or twice, at moments spread over the whole run (start-up, training, checkpoint and log writes)
        for delay in rng.uniform(0.2, 0.75, size=1 + trial % 2) * duration:
            process = _train(run_dir)
            time.sleep(delay)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=300)
        finish = _train(run_dir)
        assert finish.wait(timeout=300) == 0, finish.stderr.read()[-2000:]
        seen = f"; the last run said: {finish.stderr.read()[-1500:]!r}; checkpoints: {sorted(p.name for p in (run_dir / 'checkpoints').iterdir())}"
        assert (run_dir / "final.sha256").read_text() == reference, f"trial {trial}: the resumed state differs{seen}"
        assert _logged_steps(run_dir) == list(range(1, STEPS + 1)), f"trial {trial}: a step logged twice or not at all{seen}"
        assert not list((run_dir / "checkpoints").glob("corrupt-*")), f"trial {trial}: a checkpoint was left unreadable{seen}"
    assert kills >= TRIALS  # the trials did kill running processes


@pytest.mark.slow
def test_a_full_disk_while_logging_or_checkpointing_is_a_clear_error_and_the_next_run_resumes(tmp_path, monkeypatch):
    import builtins

    from seqjax import train
    from tests import fault_trainer

    real_open = builtins.open

    def full_disk_after(writes, what):
        count = {"n": 0}

        def fake_open(file, mode="r", *args, **kw):
            if what in str(file) and any(m in mode for m in "wa"):
                count["n"] += 1
                if count["n"] > writes:
                    raise OSError(errno.ENOSPC, "No space left on device", str(file))
            return real_open(file, mode, *args, **kw)

        return fake_open

    # the disk fills while logging: the error names the file; what was checkpointed stays usable
    monkeypatch.setattr(builtins, "open", full_disk_after(5, "metrics.jsonl"))
    with pytest.raises(OSError, match="No space left on device.*metrics.jsonl"):
        fault_trainer.main(str(tmp_path / "run"))
    monkeypatch.setattr(builtins, "open", real_open)
    fault_trainer.main(str(tmp_path / "run"))  # space is back: it resumes and finishes
    assert _logged_steps(tmp_path / "run") == list(range(1, STEPS + 1))

    # the disk fills while a checkpoint is written (Orbax's write fails): an error; the last good one is kept
    original = train.Checkpointer.save
    saves = {"n": 0}

    def failing_save(self, state, meta=None, *, force=False):
        saves["n"] += 1
        if saves["n"] == 8:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.directory))
        return original(self, state, meta, force=force)

    monkeypatch.setattr(train.Checkpointer, "save", failing_save)
    with pytest.raises(OSError, match="No space left on device"):
        fault_trainer.main(str(tmp_path / "run2"))
    monkeypatch.setattr(train.Checkpointer, "save", original)
    assert train.Checkpointer(tmp_path / "run2" / "checkpoints").latest_step() == 7
    fault_trainer.main(str(tmp_path / "run2"))
    assert (tmp_path / "run2" / "final.sha256").read_text() == (tmp_path / "run" / "final.sha256").read_text()
    assert _logged_steps(tmp_path / "run2") == list(range(1, STEPS + 1))
