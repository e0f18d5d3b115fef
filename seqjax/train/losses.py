"""Masked losses and metrics that add up exactly across batches.

A loss function returns its mean loss (what is differentiated) together with
*sums* (a classifier's count examples and carry a confusion matrix: ``classification_loss``): the summed negative log-likelihood in nats, the number of correct
predictions and the number of counted tokens. Sums of sums are exact, so an
evaluation over many batches of different padding gives the same numbers as one
big batch; ``summarize`` turns sums into the reported metrics::

    loss_nats  = nll / count                     (cross-entropy per token, natural log)
    loss_bits  = loss_nats / ln 2                 (bits per token; bits per character for char models)
    perplexity = exp(loss_nats)
    accuracy   = correct / count
    invalid    = counted positions that could not be scored

Padding positions (``mask`` False) contribute nothing to any of them. A position that should count
but cannot be scored (under ``jit``: a label outside the classes, or non-finite logits, which an
out-of-range length gives) is counted in ``invalid`` and in no other metric: the loss is NaN (the
train step does not apply it) and the accuracy is over the scored positions only, never a guess.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.core.compiled import staged_check
from seqjax.core.masking import sequence_mask
from seqjax.core.types import Array

Sums = dict[str, Array]


def cross_entropy(logits: Array, labels: Array, mask: Array | None = None, *, lengths: Array | None = None,
                  ignore_id: int | None = None, label_smoothing: float = 0.0) -> tuple[Array, Sums]:
    """Mean masked softmax cross-entropy (nats) of ``logits [..., v]`` against int ``labels [...]``.

    Which positions count: all of them, or those where ``mask`` is True, or (for ``labels
    [b, t]``) the first ``lengths[b]`` steps of each row, or those whose label is not
    ``ignore_id`` (e.g. ``seqjax.data.PAD_ID``); given together, a position must pass all.
    Everything works under ``jit``.

    ``label_smoothing`` ε trains against ``(1 − ε)·onehot + ε/v`` (Szegedy et al. 2016; the
    targets of ``optax.smooth_labels``): the returned mean loss is that smoothed
    cross-entropy, while ``sums["nll"]`` stays the plain negative log-likelihood, so
    perplexity and bits per token are comparable across ε.

    Computed in float32 whatever the logits' dtype (bfloat16 log-softmax loses digits).
    Returns ``(mean_loss, sums)``; with no counted position the mean is 0, not NaN.
    """
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"labels must have shape {tuple(logits.shape[:-1])} (logits without the class axis), got {tuple(labels.shape)}")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be integer class ids, got dtype {labels.dtype}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
    mask = jnp.ones(labels.shape, bool) if mask is None else mask
    if mask.shape != labels.shape:
        raise ValueError(f"mask must have the labels' shape {tuple(labels.shape)}, got {tuple(mask.shape)}")
    if lengths is not None:
        if labels.ndim < 1 or jnp.shape(lengths) != labels.shape[:-1]:
            raise ValueError(f"lengths must have shape {tuple(labels.shape[:-1])} (one length per row of labels), got {tuple(jnp.shape(lengths))}")
        mask = mask & sequence_mask(lengths, labels.shape[-1])
    if ignore_id is not None:
        mask = mask & (labels != ignore_id)
    vocab = logits.shape[-1]
    out_of_range = mask & ((labels < 0) | (labels >= vocab))  # a counted label that names no class
    if not isinstance(out_of_range, jax.core.Tracer) and bool(jnp.any(out_of_range)):
        where = tuple(int(i) for i in np.argwhere(np.asarray(out_of_range))[0])
        raise ValueError(f"labels must lie in [0, {vocab}) (the classes) where counted; got {int(np.asarray(labels)[where])} "
                         f"at position {where} (mask, lengths or ignore_id leave positions out)")
    staged_check(lambda: ~jnp.any(out_of_range), f"labels must lie in [0, {vocab}) (the classes) where counted; got {{label}} at "
                 "flat position {position} (mask, lengths or ignore_id leave positions out)",
                 label=lambda: labels.ravel()[jnp.argmax(out_of_range.ravel())], position=lambda: jnp.argmax(out_of_range.ravel()))
    logits = logits.astype(jnp.float32)
    scored = mask & ~out_of_range & jnp.all(jnp.isfinite(logits), axis=-1)
    invalid = mask & ~scored  # counted, but nothing can be said of it: NaN loss, and no metric counts it
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    safe = jnp.clip(labels, 0, vocab - 1).astype(jnp.int32)  # ignored ids (e.g. -100) must not index
    nll = -jnp.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]
    # under jit the labels cannot be checked: a counted out-of-range label makes the loss NaN, which
    # the train step never applies (fit stops and names the step), instead of training on another class
    nll = jnp.where(invalid, jnp.nan, jnp.where(mask, nll, 0.0))
    weights = scored.astype(jnp.float32)
    sums = {
        "nll": jnp.sum(nll),
        "correct": jnp.sum((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32) * weights),
        "count": jnp.sum(weights),
        "invalid": jnp.sum(invalid.astype(jnp.float32)),
    }
    loss = nll
    if label_smoothing:
        loss = (1.0 - label_smoothing) * nll - label_smoothing * jnp.where(mask, jnp.mean(log_probs, axis=-1), 0.0)
    return jnp.sum(loss) / jnp.maximum(sums["count"], 1.0), sums


def add(a: Sums | None, b: Sums) -> Sums:
    """Accumulates sums (``a`` may be None to start)."""
    return b if a is None else jax.tree_util.tree_map(lambda x, y: x + y, a, b)


def classification_loss(logits: Array, labels: Array, *, label_smoothing: float = 0.0) -> tuple[Array, Sums]:
    """Softmax cross-entropy of a classifier: ``logits [b, c]``, int ``labels [b]`` in ``[0, c)``.

    Its sums count examples, not tokens (``summarize`` then reports accuracy without perplexity),
    and carry the confusion matrix ``[c, c]`` (row: true class, column: predicted), from which
    ``summarize`` derives per-class accuracy and macro F1, exactly, across batches.
    """
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"classification_loss wants logits [batch, classes] and labels [batch], got {tuple(logits.shape)} "
                         f"and {tuple(labels.shape)}")
    classes = logits.shape[-1]
    if not isinstance(labels, jax.core.Tracer) and labels.size:
        values = np.asarray(labels)  # NumPy: inside a user's jit, jnp on a captured array would be staged out
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= classes:
            raise ValueError(f"labels must lie in [0, {classes}) (the classes), got values in [{low}, {high}]")
    elif labels.size:
        staged_check(lambda: (labels.min() >= 0) & (labels.max() < classes),
                     f"labels must lie in [0, {classes}) (the classes), got values in [{{low}}, {{high}}]", low=labels.min, high=labels.max)
    loss, sums = cross_entropy(logits, labels, label_smoothing=label_smoothing)
    predicted = jnp.argmax(logits, axis=-1)
    scored = (labels >= 0) & (labels < classes) & jnp.all(jnp.isfinite(logits), axis=-1)  # the rows cross_entropy scored
    truth = jax.nn.one_hot(labels, classes, dtype=jnp.float32) * scored[:, None].astype(jnp.float32)
    confusion = truth.T @ jax.nn.one_hot(predicted, classes, dtype=jnp.float32)
    return loss, {"nll": sums["nll"], "correct": sums["correct"], "examples": sums["count"], "invalid": sums["invalid"],
                  "confusion": confusion}


def summarize(sums: Sums) -> dict[str, float]:
    """Sums -> metrics as Python floats: {loss_nats, loss_bits, perplexity, accuracy, tokens} for
    token sums (``count``); {loss_nats, accuracy, examples, macro_f1, per_class_accuracy} for a
    classifier's (``examples``, ``confusion``)."""
    confusion = np.asarray(sums["confusion"], np.float64) if "confusion" in sums else None
    sums = {k: float(np.asarray(v)) for k, v in sums.items() if k != "confusion"}
    classifier = "examples" in sums
    count = max(sums.get("examples" if classifier else "count", 0.0), 1e-12)
    out = {}
    if "nll" in sums:
        nats = sums["nll"] / count
        out["loss_nats"] = nats
        if not classifier:  # perplexity and bits per token describe a language model, not a classifier
            out.update(loss_bits=nats / math.log(2), perplexity=math.exp(min(nats, 700.0)))
    if "correct" in sums:
        out["accuracy"] = sums["correct"] / count
    if classifier:
        out["examples"] = sums["examples"]
    else:
        out["tokens"] = sums.get("count", 0.0)
    if "invalid" in sums:
        out["invalid"] = sums["invalid"]
    if confusion is not None:
        true, predicted, hits = confusion.sum(1), confusion.sum(0), np.diag(confusion)
        recall = np.divide(hits, true, out=np.zeros_like(hits), where=true > 0)
        precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(hits), where=precision + recall > 0)
        out["macro_f1"] = float(f1[true > 0].mean()) if np.any(true > 0) else 0.0
        out["per_class_accuracy"] = [float(r) for r in recall]
        out["confusion"] = confusion.astype(int).tolist()
    return out
