"""Every experiment: ``--help``, a clear error for missing data, and a smoke run of a few steps
with a tiny config (loss finite and falling, the run directory complete)."""

import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.test_checkpoint import _text

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_help_lists_the_config_fields(name):
    result = subprocess.run([sys.executable, "-m", f"experiments.{name}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "options (--field=value):" in result.stdout and "--out_dir=" in result.stdout


def test_missing_data_is_one_clear_line_not_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "experiments.char_lm", f"--data={tmp_path / 'nowhere'}", f"--out_dir={tmp_path / 'run'}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("error: tinyshakespeare/input.txt: no such file") and "Traceback" not in result.stderr


def test_char_lm_smoke(tmp_path):
    from experiments import char_lm

    config = char_lm.Config(data=str(_text(tmp_path)), out_dir=str(tmp_path / "run"), steps=40, hidden=32, embed=16,
                            batch=8, window=16, log_every=5, eval_every=20, eval_windows=2, save_every=20, sample_chars=30,
                            warmup_steps=5, learning_rate=1e-2)
    with jax.numpy_dtype_promotion("standard"):
        result = char_lm.main(config)
    run = tmp_path / "run"
    train_losses = [m["loss"] for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if m["split"] == "train"]
    assert np.all(np.isfinite(train_losses)) and train_losses[-1] < 0.9 * train_losses[0]
    assert result["eval"]["loss_bits"] < result["first_train"]["loss_bits"]
    assert {"config.json", "vocab.json", "metrics.jsonl", "curves.png", "checkpoints", "samples"} <= {p.name for p in run.iterdir()}
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_20.txt", "step_40.txt"]
    assert json.loads((run / "config.json").read_text())["hidden"] == 32


def test_char_lm_bfloat16_remat_smoke(tmp_path):
    from experiments import char_lm

    config = char_lm.Config(data=str(_text(tmp_path)), out_dir=str(tmp_path / "run"), steps=20, hidden=16, embed=8, batch=4,
                            window=8, log_every=5, eval_every=0, eval_windows=1, sample_chars=5, cell="gru",
                            precision="bfloat16", remat=True, learning_rate=1e-2, warmup_steps=0)
    with jax.numpy_dtype_promotion("standard"):
        result = char_lm.main(config)
    assert np.isfinite(result["eval"]["loss_bits"])
