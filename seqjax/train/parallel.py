"""Data-parallel training with ``jax.sharding``: over the local devices, or over every device
of a multi-process run (``seqjax.train.distributed``).

    dp = DataParallel()                      # a 1-D mesh over jax.devices(), axis "data"
    state = dp.put_state(state)              # params and optimizer state replicated
    state = fit(state, train_step, batches, ..., place_batch=dp.put_batch)

The batch is split along its first axis across the devices; the train step itself is
unchanged: ``jit`` sees sharded inputs and XLA (GSPMD) partitions the computation,
inserting the all-reduce of the gradients. A carried recurrent state (truncated
BPTT) is sharded like the batch, since row ``i`` of the carry belongs to row ``i`` of
the batch. With one device this is a no-op; on a CPU, try it with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``.

In a multi-process run (after ``distributed.initialize()``), ``jax.devices()`` holds every
process's devices and each process passes ``put_batch`` *its own rows* of the global batch
(``Batches(..., shard=distributed.shard())``): process ``p`` of ``P`` holds rows
``[p * b / P, (p + 1) * b / P)``. The processes' local batches must agree in shape; where
a padded (time) axis differs, because each process padded its rows to its own longest
sequence, ``put_batch`` pads the shorter ones with zeros to the longest, which padding
invariance makes harmless (every sequence keeps its length). Scalars in a batch must be
equal on every process (``TokenStream``'s ``reset`` is). That agreement costs one small
all-gather per step (4 ms against a 4 ms ``put_batch`` on the 2-core CPU with gloo);
``DataParallel(agree_shapes=False)`` skips it where every batch has one
fixed shape (``TokenStream``, or padding to a fixed length), as on a TPU pod one would.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


class DataParallel:
    def __init__(self, devices=None, *, agree_shapes: bool = True):
        self.agree_shapes = agree_shapes
        self.devices = list(devices if devices is not None else jax.devices())
        self.mesh = Mesh(np.array(self.devices), ("data",))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.sharded = NamedSharding(self.mesh, PartitionSpec("data"))
        self.processes = len({d.process_index for d in self.devices})

    @property
    def size(self) -> int:
        return len(self.devices)

    def _split(self, x, what: str, local: bool):
        """Places one array: scalars replicated, the rest sharded along axis 0. ``local``: ``x`` holds only
        this process's rows (a batch); otherwise it is the global value, the same on every process (state)."""
        if np.ndim(x) == 0:
            return self._put(x, self.replicated)
        rows = np.shape(x)[0] * (self.processes if local else 1)
        if rows % self.size:
            raise ValueError(f"{what}: the batch axis has size {rows}{' in all' if local and self.processes > 1 else ''}, "
                             f"which does not divide over {self.size} devices; use a batch size that is a multiple of {self.size}")
        if local and self.processes > 1:
            return jax.make_array_from_process_local_data(self.sharded, np.asarray(x))
        return self._put(x, self.sharded)

    def _put(self, x, sharding):
        if self.processes == 1:
            return jax.device_put(x, sharding)
        if _is_key(x):  # typed keys travel as their uint32 data
            return jax.random.wrap_key_data(self._put(jax.random.key_data(x), sharding), impl=jax.random.key_impl(x))
        return jax.device_put(np.asarray(x), sharding)  # a host value, the same on every process

    def put_batch(self, batch):
        """Shards every array of ``batch`` along its first axis (scalars are replicated)."""
        if self.processes > 1 and self.agree_shapes:
            batch = _agree_shapes(batch)
        return jax.tree_util.tree_map(lambda x: self._split(x, "batch", local=True), batch)

    def put_state(self, state):
        """Replicates params, optimizer state, step and key; shards the carried state by batch row."""
        replicate = lambda tree: jax.tree_util.tree_map(lambda x: self._put(x, self.replicated), tree)  # noqa: E731
        carry = None if state.carry is None else jax.tree_util.tree_map(lambda x: self._split(x, "carry", local=False), state.carry)
        return state._replace(step=replicate(state.step), params=replicate(state.params),
                              opt_state=replicate(state.opt_state), key=replicate(state.key), carry=carry)


def _agree_shapes(batch):
    """Every process's local batch padded (with zeros, after the end of each axis) to the largest shape
    any process has, so that together they form one global array; an error when ranks, dtypes or
    scalars differ, or when the row counts do (a process whose data ran out)."""
    from jax.experimental import multihost_utils

    leaves, treedef = jax.tree_util.tree_flatten(batch)
    leaves = [np.asarray(x) for x in leaves]
    described = "|".join(f"{x.dtype}{x.ndim}" for x in leaves).encode()
    dims = [d for x in leaves for d in (x.shape or (0,))]
    values = [float(x) for x in leaves if x.ndim == 0]
    if len(described) > 4096 or len(dims) > 1024 or len(values) > 64:
        raise ValueError(f"put_batch: a multi-process batch holds at most 1024 axes and 64 scalars, got {len(dims)} and {len(values)}")
    code = np.frombuffer(described.ljust(4096), np.uint8)  # fixed sizes: the gather itself must not depend on the batch
    shapes = np.array(dims + [-1] * (1024 - len(dims)), np.int64)
    scalars = np.array(values + [0.0] * (64 - len(values)), np.float64)
    # one collective, not three, of int32 (JAX's default integer): each float64 scalar travels as two int32 halves
    packed = np.concatenate([code.astype(np.int32), shapes.astype(np.int32), scalars.view(np.int32)])
    gathered = np.ascontiguousarray(multihost_utils.process_allgather(packed))
    every = {"code": gathered[:, :4096], "shapes": gathered[:, 4096:5120], "scalars": gathered[:, 5120:].view(np.float64)}
    if (every["code"] != code).any():
        raise ValueError("put_batch: the processes' local batches differ in structure, dtype or rank; every process "
                         "must build its batches the same way (the same collate function)")
    if (every["scalars"] != scalars).any():
        raise ValueError("put_batch: a scalar in the batch differs between processes; scalars are replicated, so every "
                         "process must give the same value")
    largest, position, padded = every["shapes"].max(axis=0), 0, []
    for x in leaves:
        if x.ndim:
            want = largest[position: position + x.ndim]
            if (every["shapes"][:, position] != x.shape[0]).any():
                raise ValueError(f"put_batch: the processes hold {sorted(set(every['shapes'][:, position].tolist()))} rows "
                                 "of one global batch; each must hold the same number (batch_size divisible by the "
                                 "number of processes, and shards of equal length: distributed.shard)")
            x = np.pad(x, [(0, int(w) - n) for w, n in zip(want, x.shape)]) if tuple(want) != x.shape else x
        position += max(x.ndim, 1)
        padded.append(x)
    return jax.tree_util.tree_unflatten(treedef, padded)
