"""Objects as plain JSON: a seqjax model, cell, layer or tokenizer written field by field and built again.

Every seqjax model, cell, layer and tokenizer is a frozen dataclass of hyperparameters (no
arrays), so ``describe`` writes it as ``{"type": "seqjax.models.seq2seq.Seq2Seq", "args": {...}}``,
nested for fields that are themselves seqjax objects; tuples, dicts and dtypes are tagged so that
they come back as they were. ``rebuild`` imports only dataclasses of the ``seqjax`` package: a
description from another version, or hand-edited, is a ValueError naming the field rather than a
half-built object. Nothing is pickled.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import jax.numpy as jnp
import numpy as np


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
