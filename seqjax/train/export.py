"""Parameters alone, for inference: save a trained model, load it without its training state.

A training checkpoint (``seqjax.train.checkpoint``) holds everything a bit-identical resume
needs: optimizer state, PRNG key, a carried state shaped like the training batch. Inference
needs only the parameters and what describes them (the config, the vocabularies)::

    save_params("runs/numbers/model", state.params, meta={"config": ..., "vocab": ...})
    params, meta = load_params("runs/numbers/model", like=jax.eval_shape(model.init, key))

    params = run.checkpoints.restore_params(like)     # the params of a training checkpoint

``like`` (an abstract tree: ``jax.eval_shape(model.init, key)``) is checked leaf by leaf:
parameters of another model or vocabulary size fail with the first differing path and both
shapes, before anything is used. The folder is replaced atomically (written beside it, then
renamed), and a sha256 of the parameters' bytes, written at save time, is checked at load.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import tempfile

import jax
import numpy as np
import orbax.checkpoint as ocp

from seqjax.train.checkpoint import CheckpointError, check_like, checksum, tree_paths

FORMAT = "seqjax.params/1"


def save_params(directory: str | pathlib.Path, params, meta: dict | None = None) -> pathlib.Path:
    """Writes ``params`` and a JSON ``meta`` (config, vocabularies: anything JSON-able) to ``directory``.
    In a multi-process run the calling process writes alone (call it from one: ``distributed.is_primary()``)."""
    directory = pathlib.Path(directory).absolute()
    directory.parent.mkdir(parents=True, exist_ok=True)
    params = jax.device_get(params)
    record = {"format": FORMAT, "checksum": checksum(params), "shapes": tree_paths(params), "meta": meta or {}}
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        alone = ocp.options.MultiprocessingOptions(primary_host=jax.process_index(), active_processes={jax.process_index()})
        checkpointer = ocp.StandardCheckpointer(**({"multiprocessing_options": alone} if jax.process_count() > 1 else {}))
        checkpointer.save(staging / "params", params)
        checkpointer.wait_until_finished()  # it writes in the background; the folder is renamed only when whole
        checkpointer.close()
        (staging / "meta.json").write_text(json.dumps(record, indent=1, default=str))
        old = directory.with_name(f".{directory.name}-old")
        if old.exists():
            shutil.rmtree(old)
        if directory.exists():
            directory.rename(old)
        staging.rename(directory)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return directory


def read_meta(directory: str | pathlib.Path) -> dict:
    """The ``meta`` that ``save_params`` stored (without reading the parameters)."""
    return _record(pathlib.Path(directory))["meta"]


def _record(directory: pathlib.Path) -> dict:
    file = directory / "meta.json"
    try:
        record = json.loads(file.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{directory} holds no saved parameters (no meta.json; save_params writes one)") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{file} is unreadable ({error})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not a seqjax parameter file (format {record.get('format') if isinstance(record, dict) else None!r}, "
                              f"expected {FORMAT!r})")
    return record


def load_params(directory: str | pathlib.Path, like=None):
    """``(params, meta)`` from ``save_params``'s folder. With ``like`` (a tree of arrays or
    ``jax.ShapeDtypeStruct``), the saved tree must match it, and the result has its structure."""
    directory = pathlib.Path(directory).absolute()
    record = _record(directory)
    if like is not None:
        check_like(record["shapes"], like, str(directory))
        target = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), like)
        params = ocp.StandardCheckpointer().restore(directory / "params", target)
    else:
        params = ocp.StandardCheckpointer().restore(directory / "params")
    if checksum(params) != record["checksum"]:
        raise CheckpointError(f"{directory}: the parameters do not match the checksum written when they were saved")
    return params, record["meta"]


def run_params(run_dir: str | pathlib.Path, like) -> tuple[object, str]:
    """The parameters of a run directory for inference, and where they came from: the exported
    ``model/`` (``save_params``) when the run finished, else its newest training checkpoint
    (a run still training, or killed). ``like`` as in ``load_params``."""
    from seqjax.train.checkpoint import Checkpointer

    run_dir = pathlib.Path(run_dir)
    if (run_dir / "model" / "meta.json").exists():
        return load_params(run_dir / "model", like)[0], str(run_dir / "model")
    if (run_dir / "checkpoints").is_dir():
        checkpoints = Checkpointer(run_dir / "checkpoints")
        try:
            if checkpoints.latest_step() is not None:
                return checkpoints.restore_params(like), str(checkpoints.directory / str(checkpoints.latest_step()))
        finally:
            checkpoints.close()
    raise CheckpointError(f"{run_dir} holds no saved parameters (neither model/ nor a checkpoint): train a model there first")


def load_run(run_dir: str | pathlib.Path, default_config, build, vocab_names: tuple[str, ...] = ("vocab",)):
    """Everything inference needs from a run directory, for ``--translate``-style commands:
    ``(config, model, params, vocabularies, where)``.

    The config is ``config.json`` read into the type of ``default_config`` (fields it lacks keep
    their defaults; JSON lists become tuples), the vocabularies are ``<name>.json`` for each of
    ``vocab_names``, the model is ``build(config, *vocabularies)`` and the parameters come from
    ``run_params`` (``where`` says which: the exported model or a checkpoint).
    """
    import dataclasses

    from seqjax.data.vocab import Vocab

    run_dir = pathlib.Path(run_dir)
    try:
        saved = json.loads((run_dir / "config.json").read_text())
        vocabs = tuple(Vocab.load(run_dir / f"{name}.json") for name in vocab_names)
    except FileNotFoundError as error:
        raise CheckpointError(f"{run_dir} holds no trained run ({pathlib.Path(error.filename).name} is missing): train a model there first") from None
    names = {field.name for field in dataclasses.fields(default_config)}
    config = dataclasses.replace(default_config, **{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in names})
    model = build(config, *vocabs)
    params, where = run_params(run_dir, jax.eval_shape(model.init, jax.random.key(0)))
    return config, model, params, vocabs, where
