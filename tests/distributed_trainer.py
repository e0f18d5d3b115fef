"""A small data-parallel training run for tests/test_distributed.py: ``python -m tests.distributed_trainer RUN_DIR STEPS``.

Under ``python -m seqjax.train.launch`` it is one of several processes (``distributed.initialize``
reads the launcher's variables); alone it runs on 4 host devices. The fault trials' GRU classifier (``fault_trainer.classifier``) on sequences of
varied length, bucketed, so the processes' rows are padded to different lengths. Process 0 writes
RUN_DIR/final.npz (the parameters) and RUN_DIR/final.sha256 (the whole train state).
"""

import os
import signal
import sys

import jax
import numpy as np

from seqjax import data, train
from seqjax.train import distributed
from seqjax.train.checkpoint import checksum
from tests.fault_trainer import classifier


def main(run_dir: str, steps: int) -> None:
    if os.environ.get("JAX_NUM_PROCESSES"):
        distributed.initialize()
    else:
        jax.config.update("jax_num_cpu_devices", 4)
    params, loss_fn = classifier()
    rng = np.random.default_rng(0)
    examples = []
    for _ in range(96):
        xs = rng.normal(size=(int(rng.integers(2, 15)), 3)).astype(np.float32)
        examples.append({"xs": xs, "label": np.int32(xs[:, 0].sum() > 0)})

    def collate(rows):  # pads to the bucket of the longest sequence among *these* rows
        length = data.bucket_length(max(len(e["xs"]) for e in rows), (4, 8, 16))
        xs = np.zeros((len(rows), length, 3), np.float32)
        for i, e in enumerate(rows):
            xs[i, : len(e["xs"])] = e["xs"]
        return {"xs": xs, "lengths": np.array([len(e["xs"]) for e in rows], np.int32),
                "labels": np.array([e["label"] for e in rows], np.int32)}

    batches = data.Batches(examples, 8, collate, seed=1, shard=distributed.shard())

    with jax.numpy_dtype_promotion("standard"):
        optimizer = train.optimizer(3e-2)
        dp = train.DataParallel()
        state = dp.put_state(train.TrainState.create(params, optimizer, jax.random.key(1)))
        run = train.Run(run_dir, {"devices": dp.size}, checkpoint_every=4, keep=2, tensorboard=False)
        padded = []

        def place(batch):  # counts the steps where this process's rows were padded to another process's length
            placed = dp.put_batch(batch)
            padded.append(placed["xs"].shape[1] != batch["xs"].shape[1])
            return placed

        def on_log(step, metrics):  # SEQJAX_KILL_AT_STEP: process 1 is killed (SIGKILL) after that step
            if str(step) == os.environ.get("SEQJAX_KILL_AT_STEP") and jax.process_index() == 1:
                os.kill(os.getpid(), signal.SIGKILL)

        state = train.fit(state, train.make_train_step(loss_fn, optimizer), batches, steps=steps, run=run, log_every=1,
                          place_batch=place, on_log=on_log)
    (run.dir / f"padded.{jax.process_index()}").write_text(str(sum(padded)))
    digest = checksum(state)  # every process takes part (a sharded array would be gathered)
    if distributed.is_primary():
        np.savez(run.dir / "final.npz", **{"/".join(map(str, path)): np.asarray(x)
                                          for path, x in jax.tree_util.tree_flatten_with_path(distributed.local_copy(state.params))[0]})
        (run.dir / "final.sha256").write_text(digest)
        print(f"processes {jax.process_count()}, devices {dp.size}, step {int(state.step)}", flush=True)
    run.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
