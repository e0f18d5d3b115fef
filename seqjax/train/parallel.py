"""Data-parallel training over all local devices with ``jax.sharding``.

    dp = DataParallel()                      # a 1-D mesh over jax.devices(), axis "data"
    state = dp.put_state(state)              # params and optimizer state replicated
    state = fit(state, train_step, batches, ..., place_batch=dp.put_batch)

The batch is split along its first axis across the devices; the train step itself is
unchanged: ``jit`` sees sharded inputs and XLA (GSPMD) partitions the computation,
inserting the all-reduce of the gradients. A carried recurrent state (truncated
BPTT) is sharded like the batch, since row ``i`` of the carry belongs to row ``i`` of
the batch. With one device this is a no-op; on a CPU, try it with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


class DataParallel:
    def __init__(self, devices=None):
        self.devices = list(devices if devices is not None else jax.devices())
        self.mesh = Mesh(np.array(self.devices), ("data",))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.sharded = NamedSharding(self.mesh, PartitionSpec("data"))

    @property
    def size(self) -> int:
        return len(self.devices)

    def _split(self, x, what: str):
        if np.ndim(x) == 0:
            return jax.device_put(x, self.replicated)
        if np.shape(x)[0] % self.size:
            raise ValueError(f"{what}: the batch axis has size {np.shape(x)[0]}, which does not divide over "
                             f"{self.size} devices; use a batch size that is a multiple of {self.size}")
        return jax.device_put(x, self.sharded)

    def put_batch(self, batch):
        """Shards every array of ``batch`` along its first axis (scalars are replicated)."""
        return jax.tree_util.tree_map(lambda x: self._split(x, "batch"), batch)

    def put_state(self, state):
        """Replicates params, optimizer state, step and key; shards the carried state by batch row."""
        replicate = lambda tree: jax.device_put(tree, self.replicated)  # noqa: E731
        carry = None if state.carry is None else jax.tree_util.tree_map(lambda x: self._split(x, "carry"), state.carry)
        return state._replace(step=replicate(state.step), params=replicate(state.params),
                              opt_state=replicate(state.opt_state), key=replicate(state.key), carry=carry)
