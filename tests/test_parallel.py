"""Data parallelism: on 4 forced host devices the loss trajectory matches the single-device run."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from tests.conftest import xla_flags

ROOT = pathlib.Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_numpy_dtype_promotion", "standard")
import seqjax
from seqjax import data, train

assert jax.device_count() == 4, jax.devices()
cell = seqjax.LSTM(8, 16)

def loss_fn(params, batch, key, carry):
    fresh = cell.initial_state(batch["ids"].shape[0])
    carry = jax.tree_util.tree_map(lambda f, c: jnp.where(batch["reset"], f, c), fresh, carry)
    ys, carry = seqjax.unroll(cell, params["cell"], params["embed"][batch["ids"]], initial_state=carry)
    loss, sums = train.cross_entropy(ys @ params["out"], batch["targets"])
    return loss, (sums, carry)

def trajectory(parallel):
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = {"embed": jax.random.normal(k1, (12, 8)), "cell": cell.init(k2), "out": jax.random.normal(k3, (16, 12)) * 0.3}
    opt = train.optimizer(1e-2)
    state = train.TrainState.create(params, opt, jax.random.key(1), carry=cell.initial_state(8))
    step = train.make_train_step(loss_fn, opt)
    stream = data.TokenStream(np.random.default_rng(0).integers(0, 12, 4000) % 7, 8, 12, seed=0)
    place = lambda b: jax.tree_util.tree_map(jnp.asarray, b)
    if parallel:
        dp = train.DataParallel()
        state, place = dp.put_state(state), dp.put_batch
    losses = []
    for _ in range(25):
        batch = place(next(stream))
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    devices = {"params": len(state.params["out"].sharding.device_set), "carry": len(state.carry.h.sharding.device_set),
               "batch": len(batch["ids"].sharding.device_set),
               "carry_shard_rows": state.carry.h.addressable_shards[0].data.shape[0]}
    return losses, devices

try:
    train.DataParallel().put_batch({"inputs": np.zeros((6, 3))})
    error = None
except ValueError as e:
    error = str(e)
single, _ = trajectory(False)
parallel, devices = trajectory(True)
print(json.dumps({"single": single, "parallel": parallel, "devices": devices, "error": error}))
"""


@pytest.mark.slow
def test_data_parallel_matches_single_device_on_four_cpu_devices():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": xla_flags(4)}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["devices"] == {"params": 4, "carry": 4, "batch": 4, "carry_shard_rows": 2}  # 8 rows over 4 devices
    assert out["single"][-1] < out["single"][0]  # it learns
    assert "batch axis has size 6, which does not divide over 4 devices" in out["error"]
    # the same trajectory up to float32 reduction order
    import numpy as np

    np.testing.assert_allclose(out["parallel"], out["single"], rtol=1e-4, atol=1e-5)

