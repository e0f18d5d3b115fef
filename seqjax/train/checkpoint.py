"""Orbax checkpoints of a ``TrainState`` with a JSON side-car, verified on restore.

    checkpoints = Checkpointer(run_dir / "checkpoints", every=500, keep=3)
    checkpoints.save(state, {"data": batches.state()})          # saves when step % every == 0
    state, meta = checkpoints.restore(state)                    # latest good one, or None

Each checkpoint holds the whole train state (params, optimizer state, step, PRNG key,
carried recurrent state) and ``meta``: the data iterator's position and whatever the
caller adds (config, vocabulary). Together they make a resumed run bit-identical to
an uninterrupted one.

Safety: Orbax writes each step to a temporary folder and renames it when complete,
so a run killed while saving leaves no half-written step behind. On top of that,
``meta`` stores a sha256 of the state's bytes. ``restore`` tries the newest step
first; a step that cannot be read or fails the checksum is reported (a warning that
names the folder and the reason), moved aside to ``corrupt-<step>`` (kept for
inspection, never deleted) and the previous step is used.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp

from seqjax.core.types import path_string as path_string  # re-exported: it lived here


class CheckpointError(RuntimeError):
    pass


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_arrays(tree):
    """Typed PRNG keys -> their uint32 data (Orbax stores plain arrays)."""
    return jax.tree_util.tree_map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _from_arrays(tree, like):
    return jax.tree_util.tree_map(lambda x, l: jax.random.wrap_key_data(x, impl=jax.random.key_impl(l)) if _is_key(l) else x, tree, like)


def _meta_checksum(meta: dict) -> str:
    text = json.dumps({k: v for k, v in meta.items() if k != "meta_checksum"}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def signature(tree) -> str:
    """The tree's structure, shapes and dtypes (not values): what a restore target must match."""
    leaves, treedef = jax.tree_util.tree_flatten(_to_arrays(tree))
    text = str(treedef) + "".join(f"{np.dtype(x.dtype)}{tuple(np.shape(x))}" for x in leaves)
    return hashlib.sha256(text.encode()).hexdigest()


def checksum(tree) -> str:
    """sha256 over the dtype, shape and bytes of every leaf, in tree order."""
    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(_to_arrays(tree)):
        array = _host(leaf)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _host(x) -> np.ndarray:
    """The whole value on the host; an array sharded over several processes is gathered (every process
    calls this together, as they call ``save``)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable and not x.is_fully_replicated:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def tree_paths(tree) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{path: (shape, dtype)}`` with paths written the same way for tuples and lists."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {path_string(path): (tuple(np.shape(x)), str(np.dtype(x.dtype))) for path, x in flat}


def check_like(saved: dict, like, where: str) -> None:
    """Raises ``CheckpointError`` naming the first path whose shape or dtype differs, or that one side lacks."""
    want = tree_paths(like)
    saved = {path: (tuple(shape), dtype) for path, (shape, dtype) in saved.items()}
    for path in sorted(set(want) | set(saved)):
        if path not in saved:
            raise CheckpointError(f"{where} has no parameter {path!r} that this model has: a checkpoint of another model?")
        if path not in want:
            raise CheckpointError(f"{where} holds a parameter {path!r} that this model does not have: a checkpoint of another model?")
        if want[path] != saved[path]:
            raise CheckpointError(f"{where}: parameter {path!r} is {list(saved[path][0])} {saved[path][1]} there but "
                                  f"{list(want[path][0])} {want[path][1]} in this model (another model size or vocabulary?)")


def _failed_anywhere(failed: bool) -> bool:
    """Whether this process, or in a multi-process run any process, failed to read the step: all of them then move on to
    the previous one together (one process resuming while another quarantines would leave them waiting
    on each other). Every process calls this once per step it tries."""
    if jax.process_count() == 1:
        return failed
    from jax.experimental import multihost_utils

    return bool(np.asarray(multihost_utils.process_allgather(np.int32(failed))).any())


class Checkpointer:
    """Saves every ``every`` steps (and on ``force``), keeps the newest ``keep``."""

    def __init__(self, directory: str | pathlib.Path, *, every: int = 1000, keep: int = 3):
        if every < 1 or keep < 1:
            raise ValueError(f"every and keep must be >= 1, got every={every}, keep={keep}")
        self.directory = pathlib.Path(directory).absolute()
        self.every = every
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))

    def steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def save(self, state, meta: dict | None = None, *, force: bool = False) -> bool:
        """Saves ``state`` (at ``state.step``) unless it is off-interval or already saved."""
        step = int(state.step)
        if (not force and step % self.every) or step in self._manager.all_steps():
            return False
        meta = {**(meta or {}), "step": step, "checksum": checksum(state), "signature": signature(state)}
        meta["meta_checksum"] = _meta_checksum(meta)  # the data position and the rest of meta are covered too
        args = ocp.args.Composite(state=ocp.args.StandardSave(_to_arrays(state)), meta=ocp.args.JsonSave(meta))
        self._manager.save(step, args=args, force=True)
        self._manager.wait_until_finished()
        return True

    def restore(self, like, step: int | None = None):
        """``(state, meta)`` from ``step`` (default: the newest readable one), or None if there is none.

        ``like`` is a train state of the right structure (e.g. the freshly initialised
        one); its shapes, dtypes and shardings are the restore target. For the parameters
        alone (inference), use ``restore_params``.
        """
        if like is None or not hasattr(like, "params"):
            raise TypeError(f"Checkpointer.restore needs like=, a train state built as the saved one was (the same model, "
                            f"optimizer and carry), got {type(like).__name__}; to read only the parameters use "
                            f"restore_params(like_params)")
        steps = self.steps()
        if step is not None:
            if step not in steps:
                raise CheckpointError(f"no checkpoint for step {step} in {self.directory}; available: {steps}")
            steps = [step]
        target = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, _to_arrays(like))
        for s in reversed(steps):
            self._check_signature(s, like)
            try:
                restored = self._manager.restore(
                    s, args=ocp.args.Composite(state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
                state = _from_arrays(restored["state"], like)
                meta = dict(restored["meta"])
                if meta.get("checksum") != checksum(state):
                    raise CheckpointError("its contents do not match the checksum written at save time")
                if "meta_checksum" in meta and meta["meta_checksum"] != _meta_checksum(meta):  # older checkpoints have none
                    raise CheckpointError("its meta (data position, config) does not match the checksum written at save time")
                failure = None
            except Exception as error:  # noqa: BLE001 - any failure to read a step means: try the previous one
                failure = error
            if not _failed_anywhere(failure is not None):
                return state, meta
            self._quarantine(s, failure or CheckpointError("another process of this run could not read it"), explicit=step is not None)
        if steps:
            raise CheckpointError(f"no readable checkpoint in {self.directory}: every step failed (see the warnings above); "
                                  "the unreadable ones were moved to corrupt-<step>")
        return None

    def restore_params(self, like, step: int | None = None):
        """The parameters of checkpoint ``step`` (default: the newest), without the rest of the train state.

        ``like`` is the parameter tree (arrays or ``jax.eval_shape(model.init, key)``); the saved
        parameters must match it leaf by leaf (else ``CheckpointError`` names the first difference).
        The whole state's checksum is verified. Nothing is moved aside on failure.
        """
        steps = self.steps()
        if not steps:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        if step is None:
            step = steps[-1]
        elif step not in steps:
            raise CheckpointError(f"no checkpoint for step {step} in {self.directory}; available: {steps}")
        where = str(self.directory / str(step))
        try:
            restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(None), meta=ocp.args.JsonRestore()))
        except Exception as error:  # noqa: BLE001 - an unreadable step
            raise CheckpointError(f"checkpoint {where} is unreadable ({type(error).__name__})") from error
        raw, meta = restored["state"], restored["meta"]
        if checksum(tuple(raw.get(field) for field in ("step", "params", "opt_state", "key", "carry"))) != meta.get("checksum"):
            raise CheckpointError(f"checkpoint {where}: its contents do not match the checksum written at save time")
        check_like(tree_paths(raw["params"]), like, where)
        by_path = {path: leaf for path, leaf in zip(tree_paths(raw["params"]), jax.tree_util.tree_leaves(raw["params"]))}
        flat, treedef = jax.tree_util.tree_flatten_with_path(like)
        return jax.tree_util.tree_unflatten(treedef, [np.asarray(by_path[path_string(path)]) for path, _ in flat])

    def _check_signature(self, step: int, like) -> None:
        """A readable checkpoint of a differently shaped run is not corrupt: say so, touch nothing."""
        try:
            meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception:  # noqa: BLE001 - unreadable: the full restore reports and quarantines it
            return
        if meta.get("signature") not in (None, signature(like)):
            raise CheckpointError(
                f"checkpoint {self.directory / str(step)} was saved by a run with different parameter or state "
                "shapes (another model size, batch or optimizer?); resume with the same config, or use another "
                "run directory")

    def _quarantine(self, step: int, error: Exception, explicit: bool) -> None:
        folder = self.directory / str(step)
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
        if explicit:
            raise CheckpointError(f"checkpoint {folder} is unreadable ({reason})") from error
        aside = self.directory / f"corrupt-{step}"
        if jax.process_index() == 0:  # in a multi-process run, one process moves the folder; all wait for it
            if aside.exists():
                shutil.rmtree(aside)
            if folder.exists():
                folder.rename(aside)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"seqjax quarantine {step}")
        self._manager.reload()
        warnings.warn(f"checkpoint {folder} is unreadable ({reason}); moved it to {aside} and trying the previous one",
                      RuntimeWarning, stacklevel=3)

    def close(self) -> None:
        self._manager.close()
