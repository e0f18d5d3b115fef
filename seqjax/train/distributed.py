"""Multi-process training on JAX's multi-controller runtime: one Python process per host (or per
group of devices), all running the same program.

    from seqjax.train import distributed
    distributed.initialize()                       # before any other JAX call
    dp = DataParallel()                            # a mesh over every process's devices
    batches = data.Batches(examples, 64, collate, shard=distributed.shard())   # this process's rows
    state = fit(dp.put_state(state), step, batches, steps=..., run=run, place_batch=dp.put_batch)

What each process does, and why the result equals a one-process run with the same global batch:

- ``initialize`` joins the processes (``jax.distributed.initialize``). Where to find the
  coordinator comes from the arguments, else from ``JAX_COORDINATOR_ADDRESS``,
  ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (what ``python -m seqjax.train.launch`` sets),
  else from the cluster: SLURM, Open MPI and Cloud TPU pods are detected by JAX. On CPUs the
  processes talk through gloo.
- Each process reads only its rows of every global batch (``shard()``: ``Batches`` and
  ``TokenStream`` take it); ``DataParallel.put_batch`` joins the rows into one global array.
- The train step is the one-process step: ``jit`` on global arrays is one SPMD program over
  all devices, and XLA's all-reduce averages the gradients across processes.
- Checkpoints are Orbax's multi-process ones: every process calls ``save``, Orbax writes each
  array once and the JSON side-car from process 0, into a directory all processes see (one
  machine, NFS, or a mounted bucket). ``Run`` writes its config, metrics and plots from process 0 only.
  A restart of all processes resumes exactly, as on one process.
- Host-side work (evaluation, sampling) runs on ``local_copy(params)`` in every process.
"""

from __future__ import annotations

import os

import jax
import numpy as np


def initialize(coordinator: str | None = None, processes: int | None = None, process_id: int | None = None, *,
               local_devices: int | None = None, timeout_s: int = 300) -> tuple[int, int]:
    """Joins this process to the others; returns ``(process_index, process_count)``.

    Args:
      coordinator: ``host:port`` of process 0's coordinator (default ``$JAX_COORDINATOR_ADDRESS``).
      processes: how many processes in all (default ``$JAX_NUM_PROCESSES``).
      process_id: this process's index, ``0 .. processes - 1`` (default ``$JAX_PROCESS_ID``).
      local_devices: CPU only: how many host devices this process exposes (default
        ``$SEQJAX_LOCAL_DEVICES``, else one); GPUs and TPUs expose what the host has.
      timeout_s: how long to wait for every process to arrive.

    With none of them set, JAX detects SLURM, Open MPI or a Cloud TPU pod; elsewhere it is an
    error saying what to set. Must run before any other JAX computation.
    """
    coordinator = coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS") or None
    processes = processes if processes is not None else _int_env("JAX_NUM_PROCESSES")
    process_id = process_id if process_id is not None else _int_env("JAX_PROCESS_ID")
    local_devices = local_devices if local_devices is not None else _int_env("SEQJAX_LOCAL_DEVICES")
    if (processes is None) != (process_id is None) or (processes is not None and coordinator is None):
        raise ValueError("distributed.initialize: give the coordinator address, the number of processes and this "
                         f"process's id together (got coordinator={coordinator!r}, processes={processes}, "
                         f"process_id={process_id}), or none of them on SLURM, Open MPI or a TPU pod")
    if processes is not None and not 0 <= process_id < processes:
        raise ValueError(f"distributed.initialize: process_id must be in [0, {processes}), got {process_id}")
    if local_devices is not None:
        if local_devices < 1:
            raise ValueError(f"distributed.initialize: local_devices must be >= 1, got {local_devices}")
        jax.config.update("jax_num_cpu_devices", local_devices)  # only the CPU backend reads it
    if coordinator is not None and coordinator.rsplit(":", 1)[0].strip("[]") in ("127.0.0.1", "localhost", "::1"):
        _no_proxy_for_loopback()
        _gloo_on_loopback()
    try:
        jax.distributed.initialize(coordinator, processes, process_id, initialization_timeout=timeout_s)
    except (ValueError, RuntimeError) as error:
        if coordinator is not None:
            raise
        raise ValueError("distributed.initialize: no coordinator given and no cluster detected; set "
                         "JAX_COORDINATOR_ADDRESS=host:port, JAX_NUM_PROCESSES and JAX_PROCESS_ID (or run under "
                         f"python -m seqjax.train.launch, SLURM's srun, mpirun, or on a TPU pod); JAX said: {error}") from None
    return jax.process_index(), jax.process_count()


def _no_proxy_for_loopback() -> None:
    """gRPC, which joins the processes, sends even a connection to 127.0.0.1 through ``$http_proxy``
    unless ``$no_proxy`` names it; a machine that reaches the internet through a proxy would then
    time out here."""
    for name in ("no_proxy", "NO_PROXY"):
        present = [h for h in os.environ.get(name, "").split(",") if h.strip()]
        os.environ[name] = ",".join(present + [h for h in ("127.0.0.1", "localhost", "::1") if h not in present])


def _gloo_on_loopback() -> None:
    """With the coordinator on 127.0.0.1 every process is on this machine; gloo (the CPU processes'
    collectives) is then bound to 127.0.0.1 too. By default it looks up its address from the machine's
    hostname, which fails where that name does not resolve (containers, sandboxes; measured with
    ``unshare -u`` and a made-up hostname: "Unable to initialize backend 'cpu' ... device.cc:99").
    This replaces JAX's CPU backend factory, a private hook; on a JAX without it, nothing changes."""
    try:
        from jax._src import distributed as jax_distributed, xla_bridge
        from jax._src.lib import _jax

        if jax.config.jax_cpu_collectives_implementation not in (None, "gloo"):
            return

        def cpu_client():
            collectives = _jax.make_gloo_tcp_collectives(distributed_client=jax_distributed.global_state.client,
                                                         hostname="127.0.0.1")
            return xla_bridge.make_cpu_client(collectives=collectives)

        xla_bridge.register_backend_factory("cpu", cpu_client, priority=0, fail_quietly=False)
    except (ImportError, AttributeError, TypeError, RuntimeError):
        return


def _int_env(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"${name} must be an integer, got {value!r}") from None


def is_primary() -> bool:
    """True in the process that writes the run's files (process 0; the only one without ``initialize``)."""
    return jax.process_index() == 0


def shard() -> tuple[int, int] | None:
    """``(process_index, process_count)`` for ``Batches(..., shard=)`` and ``TokenStream(..., shard=)``;
    None in a one-process run, where the iterators give whole batches."""
    return (jax.process_index(), jax.process_count()) if jax.process_count() > 1 else None


def local_copy(tree):
    """Each replicated global array as an ordinary array on this process's first device, so that
    host-side code (evaluation, sampling, export) runs on it as in a one-process run. A sharded
    array (the carried state) is gathered whole, which every process must then do together."""
    def one(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return x
        if x.is_fully_replicated:
            return x.addressable_data(0)
        from jax.experimental import multihost_utils

        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(one(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        return jax.device_put(np.asarray(multihost_utils.process_allgather(x, tiled=True)), jax.local_devices()[0])

    return jax.tree_util.tree_map(one, tree)
