"""A training corpus for word vectors: the vocabulary by frequency, the text as ids, and the examples
each objective trains on (skip-gram pairs, co-occurrence counts, next-word contexts).

    corpus = Corpus.build(sentences, min_count=3)        # sentences: lists of tokens
    corpus.words, corpus.counts                          # the vocabulary, most frequent first
    centers, contexts = corpus.skipgram_pairs(rng, window=5, sample=1e-3)
    rows, cols, x = corpus.cooccurrence(window=10)       # GloVe's X_ij, summed over both directions
    contexts, targets = corpus.next_word_examples(order=4)

The conventions are word2vec's as gensim implements them, so the two train on the same examples:

* words seen fewer than ``min_count`` times are dropped from the text before anything else;
* **subsampling** keeps an occurrence of a word of count ``c`` with probability
  ``(sqrt(c / t) + 1) · t / c`` (capped at 1), ``t = sample · total words``: frequent words
  ("a", "the") lose most occurrences, rare ones keep all (Mikolov et al. 2013);
* a **reduced window**: each center draws ``b`` uniformly from ``0 .. window − 1`` and pairs with
  the words up to ``window − b`` positions away on either side, in the same sentence, so near
  words are seen more often than far ones;
* **negatives** come from the unigram distribution raised to the power 3/4 (``negative_table``).

Every draw is a function of the generator passed in: a run that regenerates an epoch from the
same seed trains on the same pairs, which is what makes a resumed run exact.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Corpus:
    """``words`` most frequent first, with their ``counts``; ``ids`` the text's in-vocabulary tokens and
    ``sentence`` the sentence index of each; ``raw_words`` counts every token before ``min_count``."""

    words: tuple[str, ...]
    counts: np.ndarray
    ids: np.ndarray
    sentence: np.ndarray
    raw_words: int

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], *, min_count: int = 5, max_vocab: int | None = None) -> "Corpus":
        """Counts tokens over ``sentences`` (each a list of tokens, e.g. ``line.lower().split()``).

        Ties in count keep the order of first appearance (as gensim's stable sort does)."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_vocab is not None and max_vocab < 1:
            raise ValueError(f"max_vocab must be >= 1 or None, got {max_vocab}")
        sentences = list(sentences)
        for number, s in enumerate(sentences):
            if isinstance(s, str) or any(not isinstance(w, str) for w in s):
                raise TypeError(f"sentences[{number}] must be a list of str tokens, got {s[:3]!r}...; split texts first")
        sentences = [list(s) for s in sentences]
        counter = collections.Counter(w for s in sentences for w in s)
        ranked = sorted((w for w, n in counter.items() if n >= min_count), key=lambda w: -counter[w])[:max_vocab]
        if not ranked:
            raise ValueError(f"no word occurs at least min_count={min_count} times in {len(sentences)} sentences")
        index = {w: i for i, w in enumerate(ranked)}
        encoded = [[index[w] for w in s if w in index] for s in sentences]
        ids = np.fromiter((i for s in encoded for i in s), np.int32)
        sentence = np.repeat(np.arange(len(encoded), dtype=np.int32), [len(s) for s in encoded])
        counts = np.array([counter[w] for w in ranked], np.int64)
        return cls(tuple(ranked), counts, ids, sentence, sum(map(len, sentences)))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: Sequence[str]) -> np.ndarray:
        """Ids of the words of a sentence that are in the vocabulary (others dropped, as in training)."""
        index = {w: i for i, w in enumerate(self.words)}
        return np.array([index[w] for w in words if w in index], np.int32)

    # --- word2vec -----------------------------------------------------------------------------

    def keep_probability(self, sample: float) -> np.ndarray:
        """Per word, the chance an occurrence survives subsampling (word2vec's formula; 1 when ``sample`` is 0)."""
        if sample < 0:
            raise ValueError(f"sample must be >= 0, got {sample}")
        if sample == 0:
            return np.ones(len(self), np.float64)
        threshold = sample * self.counts.sum()
        return np.minimum((np.sqrt(self.counts / threshold) + 1) * threshold / self.counts, 1.0)

    def skipgram_pairs(self, rng: np.random.Generator, *, window: int = 5, sample: float = 1e-3,
                       shuffle: bool = True, count_only: bool = False) -> tuple[np.ndarray, np.ndarray] | int:
        """One epoch of (center, context) id pairs: subsampled text, reduced windows, within sentences.

        ``shuffle`` orders the pairs at random (minibatches then mix words from the whole corpus).
        ``count_only`` returns how many pairs the same draws give, without building them."""
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        keep = rng.random(len(self.ids)) < self.keep_probability(sample)[self.ids]
        ids, sentence = self.ids[keep], self.sentence[keep]
        reach = window - rng.integers(0, window, len(ids))  # the reduced window of each center
        centers, contexts, count = [], [], 0
        for d in range(1, window + 1):
            same = sentence[d:] == sentence[:-d]            # i and i + d lie in one sentence
            right = same & (reach[:-d] >= d)                # center i sees i + d
            left = same & (reach[d:] >= d)                  # center i + d sees i
            if count_only:
                count += int(right.sum()) + int(left.sum())
                continue
            centers += [ids[:-d][right], ids[d:][left]]
            contexts += [ids[d:][right], ids[:-d][left]]
        if count_only:
            return count
        centers, contexts = np.concatenate(centers), np.concatenate(contexts)
        if shuffle:
            order = rng.permutation(len(centers))
            centers, contexts = centers[order], contexts[order]
        return centers.astype(np.int32), contexts.astype(np.int32)

    def negative_distribution(self, power: float = 0.75) -> np.ndarray:
        """The noise distribution: unigram counts to the power ``power``, normalised."""
        weights = self.counts.astype(np.float64) ** power
        return weights / weights.sum()

    # --- GloVe --------------------------------------------------------------------------------

    def cooccurrence(self, *, window: int = 10, weighting: str = "harmonic") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """GloVe's ``X_ij``: how often j lies within ``window`` words of i in a sentence, each occurrence
        weighted ``1/d`` at distance d (``weighting="harmonic"``, Pennington et al.) or 1 (``"flat"``).
        Symmetric; returned as the nonzero entries ``(rows, cols, values)``."""
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if weighting not in ("harmonic", "flat"):
            raise ValueError(f"weighting must be 'harmonic' or 'flat', got {weighting!r}")
        v = np.int64(len(self))
        keys, weights = [], []
        for d in range(1, window + 1):
            same = self.sentence[d:] == self.sentence[:-d]
            a, b = self.ids[:-d][same].astype(np.int64), self.ids[d:][same].astype(np.int64)
            w = 1.0 / d if weighting == "harmonic" else 1.0
            keys += [a * v + b, b * v + a]
            weights += [np.full(2 * len(a), w)]
        keys = np.concatenate(keys)
        unique, inverse = np.unique(keys, return_inverse=True)
        values = np.bincount(inverse, weights=np.concatenate(weights))
        return (unique // v).astype(np.int32), (unique % v).astype(np.int32), values.astype(np.float32)

    # --- next-word prediction -----------------------------------------------------------------

    def next_word_examples(self, order: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """For every token, the ``order`` tokens before it in its sentence (``contexts [n, order]``, oldest
        first) and the token itself (``targets [n]``). Positions before a sentence's start hold the id
        ``len(self)``, a start-of-sentence word that is never predicted."""
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        n = len(self.ids)
        contexts = np.full((n, order), len(self), np.int32)
        for back in range(1, order + 1):
            same = self.sentence[back:] == self.sentence[:-back]
            column = contexts[back:, order - back]
            column[same] = self.ids[:-back][same]
        return contexts, self.ids.copy()
