"""What every training experiment shares, so that each experiment file holds only its task.

Every training experiment's ``Config`` has the fields ``data_parallel`` and ``distributed``, and its
``main`` reads top to bottom through these calls:

    devices = harness.Devices.start(config)      # first: joins the other processes under --distributed
    batches = data.Batches(..., shard=devices.shard)          # this process's rows of each global batch
    state = devices.put_state(state)             # replicated over every device of every process
    train.fit(..., place_batch=devices.place_batch, evaluate=lambda s: evaluate(devices.local(s.params)))
    if devices.primary: write results, plots and the exported model

``--distributed=true`` is one process of several (``python -m seqjax.train.launch --processes=2 --
python -m experiments.numbers --distributed=true``, or SLURM, Open MPI, a TPU pod): data parallel
over every process's devices, each process reading its rows of the same global batches, so the run
equals one process with the same global batch (tests/test_distributed.py checks two experiments).
``--data_parallel=true`` is the same over this process's devices only. Resume, early stopping with
the best checkpoint, metrics and plots are ``seqjax.train.Run``'s and ``fit``'s; the typed config
and its command line are ``seqjax.train.config``'s.
"""

from __future__ import annotations

import dataclasses

import jax

from seqjax import train
from seqjax.train import distributed


@dataclasses.dataclass
class Devices:
    """Where a run computes: one device, this process's devices, or every device of several processes."""

    parallel: train.DataParallel | None

    @classmethod
    def start(cls, config) -> Devices:
        """Joins the processes (``--distributed``; before any other JAX computation) and builds the mesh."""
        if config.distributed:
            index, count = distributed.initialize()
            print(f"process {index} of {count}, {jax.local_device_count()} local devices", flush=True)
        if not (config.distributed or config.data_parallel):
            return cls(None)
        parallel = train.DataParallel()
        print(f"data parallel over {parallel.size} devices in {jax.process_count()} process(es)", flush=True)
        return cls(parallel)

    @property
    def shard(self) -> tuple[int, int] | None:
        """``(process, processes)`` for the batch iterators (None in one process: whole batches)."""
        return distributed.shard()

    @property
    def primary(self) -> bool:
        """Whether this process writes the run's files (process 0)."""
        return distributed.is_primary()

    @property
    def place_batch(self):
        """``fit``'s ``place_batch``: this process's rows joined into the global batch."""
        return self.parallel.put_batch if self.parallel else None

    def put_state(self, state):
        return self.parallel.put_state(state) if self.parallel else state

    def local(self, tree):
        """Params as ordinary arrays of this process, for host-side evaluation, decoding and export."""
        return distributed.local_copy(tree)
