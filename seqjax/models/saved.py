"""A saved model that describes itself: the model's type and constructor arguments as plain JSON.

Every seqjax model, cell and layer is a frozen dataclass of hyperparameters (no arrays), so the
object that built the params is written out field by field and built again from that, with no
pickle and no experiment code::

    seqjax.save_model("runs/numbers/model", model, params, vocabularies={"src": src, "tgt": tgt})
    loaded = seqjax.load("runs/numbers")            # .model, .params, .vocabularies, .meta
    loaded.generate(["two hundred forty"])          # raw text in and out (seqjax.models.loaded)

The description (``describe``) is ``{"type": "seqjax.models.seq2seq.Seq2Seq", "args": {...}}``,
nested for fields that are themselves seqjax objects; tuples and dtypes are tagged so that they
come back as they were. ``rebuild`` imports only classes of the ``seqjax`` package, and only
dataclasses: a description from another version, or hand-edited, gives an error naming the file
and the field rather than a half-built model.
"""

from __future__ import annotations

import pathlib

import jax

from seqjax.core.describe import describe, rebuild
from seqjax.data.vocab import Vocab
from seqjax.models.loaded import Loaded
from seqjax.train.checkpoint import CheckpointError
from seqjax.train.export import load_params, read_meta, save_params

FORMAT = "seqjax.model/1"


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
        if not isinstance(vocab, Vocab) and type(vocab).__name__ != "SubwordVocab":
            raise TypeError(f"vocabularies[{name!r}] must be a seqjax.data.Vocab or SubwordVocab, got {type(vocab).__name__}")
    check_text_settings(model, meta or {})
    record = {"model_format": FORMAT, "model": description,
              "vocabularies": {name: v.as_json() for name, v in vocabularies.items()},
              **(meta or {})}
    return save_params(directory, params, record)


GENERATE_OPTIONS = ("method", "max_length", "beam_width", "length_penalty", "length_norm", "early_stopping", "temperature", "top_k", "top_p",
                    "eos_id", "batch_size", "buckets")


def check_text_settings(model, meta: dict) -> None:
    """The keys ``Loaded.generate`` / ``predict`` read from ``meta``, checked before anything is written."""
    unknown = sorted(set(meta.get("generate", {})) - set(GENERATE_OPTIONS))
    if unknown:
        raise ValueError(f"meta['generate'] has unknown option(s) {unknown}; the options are {GENERATE_OPTIONS}")
    unknown = sorted(set(meta.get("predict", {})) - {"batch_size", "buckets"})
    if unknown:
        raise ValueError(f"meta['predict'] has unknown option(s) {unknown}; the options are ('batch_size', 'buckets')")
    classes = meta.get("classes")
    if classes is not None and (not isinstance(classes, (list, tuple)) or len(classes) != getattr(model, "num_classes", -1)):
        raise ValueError(f"meta['classes'] must name the model's {getattr(model, 'num_classes', '?')} classes in order, got {classes!r:.80}")


def load(directory: str | pathlib.Path) -> Loaded:
    """The model, params and vocabularies ``save_model`` wrote to ``directory`` (or to a run directory's
    ``model/``), rebuilt from plain JSON and Orbax (nothing unpickled), ready for ``generate`` /
    ``predict`` on raw text (``seqjax.models.loaded``); a ``CheckpointError`` naming the file for a
    missing or corrupt piece."""
    directory = pathlib.Path(directory)
    if not (directory / "meta.json").exists() and (directory / "model" / "meta.json").exists():
        directory = directory / "model"  # a run directory: its exported model
    elif not (directory / "meta.json").exists() and directory.is_dir():
        found = sorted(str(f.parent.relative_to(directory)) for pattern in ("*/meta.json", "*/*/meta.json")
                       for f in directory.glob(pattern) if f.parent.name != "checkpoints" and f.parent.parent.name != "checkpoints")
        if found:  # a run of several models (sentiment, ontology, caption): name them
            raise CheckpointError(f"{directory} holds {len(found)} saved models, not one: load one of "
                                  f"{', '.join(str(directory / f) for f in found[:8])}{' ...' if len(found) > 8 else ''}")
    meta = dict(read_meta(directory))
    file = directory / "meta.json"
    if meta.get("model_format") != FORMAT:
        raise CheckpointError(f"{file} describes no model (model_format {meta.get('model_format')!r}, expected {FORMAT!r}): "
                              "it was written by save_params, or by another version; rebuild the model in code and use load_params")
    try:
        model = rebuild(meta.pop("model"))
        vocabularies = {name: Vocab.from_json(v) for name, v in meta.pop("vocabularies", {}).items()}
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"{file}: {error}") from None
    try:  # the parameter tree the model makes, so that the saved one is checked against it and comes back in its shape
        like = model.param_shapes() if hasattr(model, "param_shapes") else jax.eval_shape(model.init, jax.random.key(0))
    except Exception as error:  # noqa: BLE001  (a model whose init needs more, e.g. pretrained vectors)
        raise CheckpointError(f"{file}: the rebuilt {type(model).__name__} cannot make its parameter tree ({error})") from None
    params, _ = load_params(directory, like)
    meta.pop("model_format")
    return Loaded(model, params, vocabularies, meta)
