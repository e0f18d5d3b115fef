"""A small training run for the fault trials (tests/test_faults.py): ``python -m tests.fault_trainer RUN_DIR``.

A GRU classifier on synthetic sequences, trained by ``seqjax.train.fit`` with a checkpoint and a
metrics line at every step, so a kill at a random moment often lands in a checkpoint write or a
log write. At the end it writes the sha256 of the whole train state to RUN_DIR/final.sha256.
"""

import sys

import jax
import numpy as np

import seqjax
from seqjax import data, train
from seqjax.train.checkpoint import checksum

STEPS = 16


def classifier():
    """The GRU classifier both trial runners train: ``(params, loss_fn)``; a batch holds ``xs`` [b, t, 3],
    ``labels`` [b] and optionally ``lengths`` [b]."""
    cell = seqjax.GRU(3, 8)
    keys = jax.random.split(jax.random.key(0), 2)
    params = {"cell": cell.init(keys[0]), "out": 0.1 * jax.random.normal(keys[1], (8, 2))}

    def loss_fn(params, batch, key):
        _, state = seqjax.unroll(cell, params["cell"], batch["xs"], lengths=batch.get("lengths"))
        return train.cross_entropy(state.h @ params["out"], batch["labels"])

    return params, loss_fn


def main(run_dir: str) -> None:
    params, loss_fn = classifier()
    rng = np.random.default_rng(0)
    examples = []
    for _ in range(64):
        xs = rng.normal(size=(6, 3)).astype(np.float32)
        examples.append({"xs": xs, "label": np.int32(xs[0, 0] > 0)})
    batches = data.Batches(examples, 8, lambda b: {"xs": np.stack([e["xs"] for e in b]), "labels": np.stack([e["label"] for e in b])},
                           seed=1)

    with jax.numpy_dtype_promotion("standard"):
        optimizer = train.optimizer(1e-2)
        state = train.TrainState.create(params, optimizer, jax.random.key(1))
        run = train.Run(run_dir, {"steps": STEPS}, checkpoint_every=1, keep=2, tensorboard=False)
        state = train.fit(state, train.make_train_step(loss_fn, optimizer), batches, steps=STEPS, run=run, log_every=1)
    (run.dir / "final.sha256").write_text(checksum(state))


if __name__ == "__main__":
    main(sys.argv[1])
