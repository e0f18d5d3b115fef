"""Merging several embeddings into one space, as ConceptNet Numberbatch does (Speer et al. 2017).

Each set's rows are scaled to unit length (so no set dominates by its norms), the sets are
concatenated word by word over a shared vocabulary, and the ``[n, Σ d_k]`` result is projected on
its ``dim`` leading right singular vectors (a truncated SVD): ``X V_dim = U_dim Σ_dim``. Inner
products, and so cosines, of the concatenation are kept as far as ``dim`` dimensions allow.

    merged = merge([glove_retrofitted, word2vec_retrofitted], dim=300)                 # words in every set
    merged = merge([a, b], dim=300, vocabulary="union")                                # missing rows are zero

Numberbatch also fills a word that one set lacks from its graph neighbours (retrofitting does
that here when the graph links the word to words that have vectors).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seqjax.embeddings.vectors import Vectors, unit


def merge(sets: Sequence[Vectors], dim: int, *, vocabulary: str = "intersection", weights: Sequence[float] | None = None) -> Vectors:
    """One ``dim``-dimensional set from ``sets`` (module docstring). ``vocabulary``: "intersection"
    (words every set has, in the first set's order) or "union" (a set's missing rows are zero);
    ``weights`` scale each set's unit rows (default 1)."""
    if not sets:
        raise ValueError("merge needs at least one set of vectors")
    if vocabulary not in ("intersection", "union"):
        raise ValueError(f"vocabulary must be 'intersection' or 'union', got {vocabulary!r}")
    weights = [1.0] * len(sets) if weights is None else list(weights)
    if len(weights) != len(sets):
        raise ValueError(f"weights must have one entry per set ({len(sets)}), got {len(weights)}")
    if vocabulary == "intersection":
        words = [w for w in sets[0].words if all(w in s for s in sets[1:])]
    else:
        words = list(dict.fromkeys(w for s in sets for w in s.words))
    if not words:
        raise ValueError("the sets share no word")
    total = sum(s.dim for s in sets)
    if not isinstance(dim, int) or not 1 <= dim <= min(total, len(words)):
        raise ValueError(f"dim must be an int in [1, {min(total, len(words))}] (at most the summed dimensions and the words), got {dim!r}")
    blocks = []
    for s, weight in zip(sets, weights):
        block = np.zeros((len(words), s.dim), np.float64)
        rows = [(i, s.index[w]) for i, w in enumerate(words) if w in s]
        block[[i for i, _ in rows]] = weight * unit(s.matrix[[j for _, j in rows]].astype(np.float64))
        blocks.append(block)
    x = np.concatenate(blocks, axis=1)
    u, sigma, _ = np.linalg.svd(x, full_matrices=False)
    return Vectors(words, (u[:, :dim] * sigma[:dim]).astype(np.float32))
