"""Sentence pairs for sequence-to-sequence models: encoding, teacher-forcing batches, bucketing.

    src_vocab = Vocab.build([tokenize(s) for s, _ in train], min_freq=2)
    tgt_vocab = Vocab.build([tokenize(t) for _, t in train], min_freq=2)
    examples = encode_pairs(train, src_vocab, tgt_vocab, tokenize)          # [(src ids, tgt ids)]
    batches = pair_batches(examples, batch_size=128, buckets=(8, 16, 24, 32, 48), seed=0)
    batch = next(batches)   # dict of arrays, as Seq2Seq.loss reads them:

        source          [b, S]  source ids, <PAD> after each length
        source_lengths  [b]
        target_inputs   [b, T]  <GO> y_1 .. y_n         (what the decoder reads: teacher forcing)
        target_outputs  [b, T]  y_1 .. y_n <EOS>         (what it must predict)
        target_lengths  [b]     n + 1

Both sides of a batch are padded to one bucket length (the smallest bucket that holds its
longest source or target), so a stream of batches compiles at most once per bucket, and
``Batches`` groups pairs of similar length so that little is spent on padding. Pairs longer
than the largest bucket are clipped there (the target keeps its <EOS>: the model still
learns to stop).
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

from seqjax.data.batching import Batches, bucket_length, pad
from seqjax.data.vocab import EOS_ID, GO_ID, PAD_ID, UNK_ID, Vocab


def encode_pairs(pairs: Sequence[tuple], src_vocab: Vocab, tgt_vocab: Vocab, tokenize_source: Callable[[str], list[str]],
                 tokenize_target: Callable[[str], list[str]] | None = None) -> list[tuple[list[int], list[int]]]:
    """``[(source text, target text)] -> [(source ids, target ids)]``; unknown tokens become <UNK>.
    Pairs with an empty side are an error (there is nothing to translate or nothing to learn)."""
    tokenize_target = tokenize_target or tokenize_source
    out = []
    for i, (source, target) in enumerate(pairs):
        src, tgt = src_vocab.encode(tokenize_source(source)), tgt_vocab.encode(tokenize_target(target))
        if not src or not tgt:
            raise ValueError(f"pair {i} has an empty {'source' if not src else 'target'}: {(source, target)!r}")
        out.append((src, tgt))
    return out


def unknown_rate(examples: Sequence[tuple[list[int], list[int]]]) -> tuple[float, float]:
    """The share of <UNK> tokens on the source and the target side."""
    rates = []
    for side in (0, 1):
        total = sum(len(e[side]) for e in examples)
        rates.append(sum(ids.count(UNK_ID) for ids in (e[side] for e in examples)) / max(total, 1))
    return rates[0], rates[1]


def collate_pairs(examples: Sequence[tuple[list[int], list[int]]], buckets: Sequence[int] | None = None) -> dict:
    """A teacher-forcing batch (module docstring) from ``[(source ids, target ids)]``."""
    longest = max(max(len(s), len(t) + 1) for s, t in examples)
    length = bucket_length(longest, buckets) if buckets else longest
    source, source_lengths = pad([s for s, _ in examples], length)
    return {"source": source, "source_lengths": source_lengths, **collate_targets([t for _, t in examples], length)}


def collate_targets(targets: Sequence[list[int]], length: int) -> dict:
    """The target side of a teacher-forcing batch, ``length`` steps: ``target_inputs`` (<GO> and the
    ids), ``target_outputs`` (the ids and <EOS>), ``target_lengths`` (ids longer than ``length − 1``
    are cut). A captioner's batch is this and the images."""
    targets = [list(t[: length - 1]) for t in targets]
    target_inputs, target_lengths = pad([[GO_ID] + t for t in targets], length)
    target_outputs, _ = pad([t + [EOS_ID] for t in targets], length)
    return {"target_inputs": target_inputs, "target_outputs": target_outputs, "target_lengths": target_lengths}


def pair_batches(examples: Sequence[tuple[list[int], list[int]]], batch_size: int, *, buckets: Sequence[int] | None = None,
                 seed: int = 0, shuffle: bool = True, epochs: int | None = None, drop_last: bool = True, shard: tuple[int, int] | None = None) -> Batches:
    """Resumable batches of pairs grouped by length (``Batches``), collated by ``collate_pairs``."""
    return Batches(examples, batch_size, lambda chunk: collate_pairs(chunk, buckets), seed=seed, shuffle=shuffle,
                   epochs=epochs, drop_last=drop_last, shard=shard, lengths=lambda e: max(len(e[0]), len(e[1]) + 1))


def source_batches(sources: Sequence[list[int]], batch_size: int, buckets: Sequence[int] | None = None):
    """``(start, source [b, S], source_lengths [b])`` for generation, in the given order (the last
    batch padded with copies of its first row so that every batch has ``batch_size`` rows)."""
    for start in range(0, len(sources), batch_size):
        chunk = list(sources[start: start + batch_size])
        chunk += [chunk[0]] * (batch_size - len(chunk))
        longest = max(len(s) for s in chunk)
        ids, lengths = pad(chunk, bucket_length(longest, buckets) if buckets else longest, pad_id=PAD_ID)
        yield start, ids, lengths


def strip_special(ids: Sequence[int] | np.ndarray) -> list[int]:
    """``strip_specials`` under its earlier name (one release, with a DeprecationWarning)."""
    warnings.warn("seqjax.data.pairs.strip_special is now strip_specials (as Vocab.decode(strip_specials=))", DeprecationWarning,
                  stacklevel=2)
    return strip_specials(ids)


def strip_specials(ids: Sequence[int] | np.ndarray) -> list[int]:
    """Generated ids up to (not including) the first <EOS>, without <PAD>/<GO>."""
    out = []
    for i in np.asarray(ids).tolist():
        if i == EOS_ID:
            break
        if i not in (PAD_ID, GO_ID):
            out.append(i)
    return out
