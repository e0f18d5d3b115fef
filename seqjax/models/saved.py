"""A saved model that describes itself: the model's type and constructor arguments as plain JSON.

Every seqjax model, cell and layer is a frozen dataclass of hyperparameters (no arrays), so the
object that built the params is written out field by field and built again from that, with no
pickle and no experiment code::

    seqjax.save_model("runs/numbers/model", model, params, vocabularies={"src": src, "tgt": tgt})
    loaded = seqjax.load("runs/numbers/model")      # .model, .params, .vocabularies, .meta
    loaded.model.generate(loaded.params, ...)

The description (``describe``) is ``{"type": "seqjax.models.seq2seq.Seq2Seq", "args": {...}}``,
nested for fields that are themselves seqjax objects; tuples and dtypes are tagged so that they
come back as they were. ``rebuild`` imports only classes of the ``seqjax`` package, and only
dataclasses: a description from another version, or hand-edited, gives an error naming the file
and the field rather than a half-built model.
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.data.vocab import Vocab
from seqjax.train.checkpoint import CheckpointError
from seqjax.train.export import load_params, read_meta, save_params

FORMAT = "seqjax.model/1"


def describe(obj: Any, where: str = "model") -> Any:
    """``obj`` (a seqjax model, cell or layer, or a field value of one) as JSON-able data."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, tuple):
        return {"tuple": [describe(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [describe(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        return {"dict": {k: describe(v, f"{where}[{k!r}]") for k, v in obj.items()}}
    if _is_dtype(obj):
        return {"dtype": np.dtype(obj).name}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        kind = type(obj)
        if not kind.__module__.startswith("seqjax.") or kind.__qualname__ != kind.__name__:
            raise TypeError(f"{where}: {kind.__module__}.{kind.__qualname__} is not a class of the seqjax package, "
                            "so a saved model could not be rebuilt from its description")
        return {"type": f"{kind.__module__}.{kind.__name__}",
                "args": {f.name: describe(getattr(obj, f.name), f"{where}.{f.name}") for f in dataclasses.fields(obj) if f.init}}
    raise TypeError(f"{where}: a {type(obj).__name__} ({obj!r:.60}) cannot be described as JSON; a model's fields must be "
                    "numbers, strings, tuples, dtypes or seqjax objects")


def rebuild(description: Any, where: str = "model") -> Any:
    """The object ``describe`` wrote; a ValueError naming the field for anything it did not write."""
    if description is None or isinstance(description, (bool, int, float, str)):
        return description
    if isinstance(description, list):
        return [rebuild(v, f"{where}[{i}]") for i, v in enumerate(description)]
    if not isinstance(description, dict):
        raise ValueError(f"{where}: unexpected {type(description).__name__} in a model description")
    if set(description) == {"tuple"}:
        return tuple(rebuild(v, f"{where}[{i}]") for i, v in enumerate(description["tuple"]))
    if set(description) == {"dict"}:
        return {k: rebuild(v, f"{where}[{k!r}]") for k, v in description["dict"].items()}
    if set(description) == {"dtype"}:
        name = description["dtype"]
        return getattr(jnp, name) if isinstance(name, str) and hasattr(jnp, name) else jnp.dtype(name)
    if set(description) != {"type", "args"} or not isinstance(description["args"], dict):
        raise ValueError(f"{where}: expected {{'type', 'args'}} (a seqjax object), got the keys {sorted(description)}")
    module_name, _, name = str(description["type"]).rpartition(".")
    if not module_name.startswith("seqjax."):
        raise ValueError(f"{where}: {description['type']!r} is not a class of the seqjax package; only those are rebuilt")
    try:
        kind = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise ValueError(f"{where}: {description['type']!r} does not exist in this version of seqjax") from None
    if not (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
        raise ValueError(f"{where}: {description['type']!r} is not a seqjax model, cell or layer")
    fields = {f.name for f in dataclasses.fields(kind) if f.init}
    unknown = sorted(set(description["args"]) - fields)
    if unknown:
        raise ValueError(f"{where}: {description['type']} has no field(s) {', '.join(unknown)} in this version of seqjax")
    return kind(**{k: rebuild(v, f"{where}.{k}") for k, v in description["args"].items()})


def _is_dtype(obj) -> bool:
    if isinstance(obj, np.dtype):
        return True
    try:
        return isinstance(obj, type) and np.dtype(obj).type is not np.object_
    except TypeError:
        return False


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What ``load`` returns: the rebuilt model, its params, its vocabularies by name, and the rest of the meta."""

    model: Any
    params: Any
    vocabularies: dict[str, Vocab]
    meta: dict


def save_model(directory: str | pathlib.Path, model, params, *, vocabularies: dict[str, Vocab] | None = None,
               meta: dict | None = None) -> pathlib.Path:
    """Writes ``params`` (Orbax) and, in ``meta.json``, the model's description, the vocabularies (their
    tokens and level) and ``meta``: everything ``load`` needs. The description is checked to rebuild
    the same model before anything is written."""
    description = describe(model)
    if rebuild(description) != model:
        raise TypeError(f"{type(model).__name__} does not rebuild from its description as the same model")
    vocabularies = vocabularies or {}
    for name, vocab in vocabularies.items():
        if not isinstance(vocab, Vocab):
            raise TypeError(f"vocabularies[{name!r}] must be a seqjax.data.Vocab, got {type(vocab).__name__}")
    record = {"model_format": FORMAT, "model": description,
              "vocabularies": {name: {"tokens": list(v.tokens), "level": v.level} for name, v in vocabularies.items()},
              **(meta or {})}
    return save_params(directory, params, record)


def load(directory: str | pathlib.Path) -> Loaded:
    """The model, params and vocabularies ``save_model`` wrote to ``directory``, rebuilt from plain JSON
    and Orbax (nothing unpickled); a ``CheckpointError`` naming the file for a missing or corrupt piece."""
    directory = pathlib.Path(directory)
    meta = dict(read_meta(directory))
    file = directory / "meta.json"
    if meta.get("model_format") != FORMAT:
        raise CheckpointError(f"{file} describes no model (model_format {meta.get('model_format')!r}, expected {FORMAT!r}): "
                              "it was written by save_params, or by another version; rebuild the model in code and use load_params")
    try:
        model = rebuild(meta.pop("model"))
        vocabularies = {name: Vocab(tuple(v["tokens"]), level=v["level"]) for name, v in meta.pop("vocabularies", {}).items()}
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"{file}: {error}") from None
    try:  # the parameter tree the model makes, so that the saved one is checked against it and comes back in its shape
        like = model.param_shapes() if hasattr(model, "param_shapes") else jax.eval_shape(model.init, jax.random.key(0))
    except Exception as error:  # noqa: BLE001  (a model whose init needs more, e.g. pretrained vectors)
        raise CheckpointError(f"{file}: the rebuilt {type(model).__name__} cannot make its parameter tree ({error})") from None
    params, _ = load_params(directory, like)
    meta.pop("model_format")
    return Loaded(model, params, vocabularies, meta)
