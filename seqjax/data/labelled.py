"""Labelled texts for classifiers: encoding, batches, stratified k-fold splits.

    folds = stratified_folds(labels, k=10, seed=0)           # fold index of every example
    examples = encode_labelled(texts, labels, vocab, str.split)
    batches = labelled_batches(examples, 50, buckets=(16, 32, 64), seed=0)
    next(batches)   # {"ids": [b, t], "lengths": [b], "labels": [b]}

Pretrained rows for a task vocabulary come from ``seqjax.embeddings.Vectors.embedding_matrix``
(``vectors_for`` of earlier releases: ``Vectors(words, vectors).embedding_matrix(vocab.tokens,
seed=0, scale=0.25)`` gives the same matrix).

Kim (2014) evaluated MR by 10-fold cross-validation; ``stratified_folds`` deals each class's
examples (shuffled by ``seed``) round-robin over the folds, so every fold has the class balance
of the whole set and the folds partition it.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

from seqjax.data.batching import Batches, bucket_length, pad
from seqjax.data.vocab import Vocab


def stratified_folds(labels: Sequence[int], k: int, seed: int = 0) -> np.ndarray:
    """``fold[i]`` in ``[0, k)`` for every example: each class spread evenly over the folds."""
    labels = np.asarray(labels)
    if k < 2 or k > len(labels):
        raise ValueError(f"k must lie in [2, {len(labels)}] (the number of examples), got {k}")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), np.int64)
    start = 0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        fold[members] = (start + np.arange(len(members))) % k  # continue the deal where the last class ended
        start += len(members)
    return fold


def encode_labelled(texts: Sequence[str], labels: Sequence[int], vocab: Vocab, tokenize: Callable[[str], list[str]],
                    num_classes: int | None = None, *, source: str = "data") -> list[tuple[list[int], int]]:
    """``[(ids, label)]``; an empty text or a label outside ``[0, num_classes)`` is an error naming the example."""
    out = []
    for i, (text, label) in enumerate(zip(texts, labels)):
        ids = vocab.encode(tokenize(text))
        if not ids:
            raise ValueError(f"{source}: example {i} has an empty text: {text!r}")
        if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
            raise TypeError(f"{source}: example {i} has label {label!r} ({type(label).__name__}); labels must be int class ids")
        if num_classes is not None and not 0 <= int(label) < num_classes:
            raise ValueError(f"{source}: example {i} has label {label!r}, outside the {num_classes} classes [0, {num_classes})")
        out.append((ids, int(label)))
    return out


def collate_labelled(examples: Sequence[tuple[list[int], int]], buckets: Sequence[int] | None = None) -> dict:
    """One batch: ``{"ids", "lengths", "labels"}``; float ids or labels are an error (never truncated)."""
    longest = max(len(ids) for ids, _ in examples)
    ids, lengths = pad([ids for ids, _ in examples], bucket_length(longest, buckets) if buckets else longest)
    labels = np.asarray([label for _, label in examples])
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be int class ids, got {labels.dtype} values {labels[:4].tolist()}")
    return {"ids": ids, "lengths": lengths, "labels": labels.astype(np.int32)}


def labelled_batches(examples: Sequence[tuple[list[int], int]], batch_size: int, *, buckets: Sequence[int] | None = None,
                     seed: int = 0, shuffle: bool = True, epochs: int | None = None, drop_last: bool = True,
                     shard: tuple[int, int] | None = None, truncate: bool | None = None) -> Batches:
    """Resumable batches grouped by length (``Batches``), padded to ``buckets``.

    A text longer than the largest bucket is cut to it when ``truncate=True``; ``truncate=False``
    makes it a ValueError naming the example; the default cuts and warns once, saying how many
    texts were cut and by how much at most (a silent cut would change the task unseen)."""
    if buckets:
        largest = max(buckets)
        long = [(i, len(ids)) for i, (ids, _) in enumerate(examples) if len(ids) > largest]
        if long and truncate is False:
            i, n = long[0]
            raise ValueError(f"example {i} has {n} tokens, more than the largest bucket ({largest}), and truncate=False; "
                             f"{len(long)} example(s) are that long: add a larger bucket or pass truncate=True")
        if long and truncate is None:
            warnings.warn(f"labelled_batches: {len(long)} of {len(examples)} texts are longer than the largest bucket ({largest}) "
                          f"and are cut to it (the longest has {max(n for _, n in long)} tokens); pass truncate=True to "
                          f"accept this, or truncate=False to make it an error", UserWarning, stacklevel=2)
    return Batches(examples, batch_size, lambda chunk: collate_labelled(chunk, buckets), seed=seed, shuffle=shuffle,
                   epochs=epochs, drop_last=drop_last, shard=shard, lengths=lambda e: len(e[0]))
