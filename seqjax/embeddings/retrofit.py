"""Retrofitting word vectors to a graph (Faruqui et al. 2015), the step ConceptNet Numberbatch builds on.

Given vectors q̂ and a graph E of related words (synonyms, paraphrases, ConceptNet edges), find
vectors q close to q̂ and to their neighbours:

    Ψ(Q) = Σ_i [ α_i ‖q_i − q̂_i‖² + Σ_{j:(i,j)∈E} β_ij ‖q_i − q_j‖² ]

Ψ is a convex quadratic. ``retrofit`` minimises it by coordinate descent: each word in turn
takes the q_i that minimises Ψ with the others fixed,

    q_i = (α_i q̂_i + Σ_j (β_ij + β_ji) q_j) / (α_i + Σ_j (β_ij + β_ji))      (j: neighbours either way)

so Ψ falls at every update and the iteration reaches Ψ's unique minimum (the solution of a
linear system, which the tests check). The paper's defaults are α_i = 1, β_ij = 1/degree(i).
``exact=False`` runs instead the update of Faruqui's retrofit.py, q_i = (α_i q̂_i + Σ_j β_ij q_j) /
(α_i + Σ_j β_ij), which leaves out the β_ji terms: the published numbers come from it (with its directed lexicons:
``read_edges(..., symmetric=False)``).

    edges, unknown = read_edges("ppdb-xl.txt", vectors)   # "word n1 n2 ..." or "a b [weight]" lines
    edges, unknown = edges_from_pairs(vectors, conceptnet_pairs("conceptnet-assertions-5.7.0.csv.gz"))
    new = retrofit(vectors, edges, iterations=10)
    objective(vectors, new, edges)                      # Ψ
"""

from __future__ import annotations

import os
import pathlib
from collections import defaultdict
from typing import Iterable

import numpy as np

from seqjax.data.files import DataFormatError
from seqjax.embeddings.vectors import Vectors

Edges = dict[tuple[int, int], float]  # (i, j) -> β_ij over row indices of the vectors


def edges_from_pairs(vectors: Vectors, pairs: Iterable[tuple[str, str] | tuple[str, str, float]], *,
                     symmetric: bool = True) -> tuple[Edges, int]:
    """``(edges, unknown)``: the pairs whose words both have vectors, as row-index edges with
    weight β_ij = 1/degree(i) (the paper's) unless a pair gives its own weight; both directions
    when ``symmetric``. ``unknown`` counts the pairs left out for a word without a vector."""
    weighted, unknown = {}, 0
    for pair in pairs:
        a, b = pair[0], pair[1]
        if a not in vectors or b not in vectors:
            unknown += 1
            continue
        i, j = vectors.index[a], vectors.index[b]
        if i == j:
            continue
        weight = pair[2] if len(pair) > 2 else None
        weighted[(i, j)] = weight
        if symmetric:
            weighted.setdefault((j, i), weight)
    degree = defaultdict(int)
    for i, _ in weighted:
        degree[i] += 1
    return {(i, j): (1.0 / degree[i] if w is None else float(w)) for (i, j), w in weighted.items()}, unknown


def read_edges(path: str | os.PathLike, vectors: Vectors, *, symmetric: bool = True) -> tuple[Edges, int]:
    """A graph file: lines "word neighbour1 neighbour2 ..." (Faruqui's lexicons, PPDB, WordNet synonyms)
    or "word1 word2 weight" (the third field a number), space- or tab-separated. Returns
    ``edges_from_pairs``' ``(edges, unknown)``; a line with a single word is an error by file and line."""
    pairs = []
    file = pathlib.Path(path)
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields or line.startswith("#"):
            continue
        if len(fields) < 2:
            raise DataFormatError(file, number, f"expected a word and at least one neighbour, got {line.strip()!r}")
        if len(fields) == 3:
            try:
                pairs.append((fields[0], fields[1], float(fields[2])))
                continue
            except ValueError:
                pass  # three words: a word and two neighbours
        pairs += [(fields[0], other) for other in fields[1:]]
    return edges_from_pairs(vectors, pairs, symmetric=symmetric)


NEGATIVE_RELATIONS = ("Antonym", "DistinctFrom", "NotDesires", "NotCapableOf", "NotHasProperty", "NotUsedFor", "ExternalURL")


def _concept(uri: str, language: str) -> str | None:
    """``/c/en/ice_cream/n`` -> "ice_cream" for ``language`` "en"; None for another language."""
    parts = uri.split("/")
    return parts[3] if len(parts) > 3 and parts[1] == "c" and parts[2] == language else None


def conceptnet_pairs(path: str | os.PathLike, *, language: str = "en", relations: Iterable[str] | None = None,
                     exclude: Iterable[str] = NEGATIVE_RELATIONS) -> list[tuple[str, str, float]]:
    """``(word, word, weight)`` of ConceptNet's CSV assertions (tab-separated: assertion URI,
    relation, start, end, JSON with a "weight"; plain or .gz) between two concepts of ``language``,
    for ``relations`` (names such as "Synonym"; None: all) minus ``exclude`` (relations that say two
    words differ). Multi-word concepts keep their underscores, as in Numberbatch's vocabulary."""
    import gzip
    import json

    file = pathlib.Path(path)
    wanted = None if relations is None else set(relations)
    skip = set(exclude)
    out = []
    with (gzip.open(file, "rt", encoding="utf-8") if file.suffix == ".gz" else open(file, encoding="utf-8")) as f:
        for number, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 5 or not fields[1].startswith("/r/"):
                raise DataFormatError(file, number, "expected 5 tab-separated fields: assertion, /r/relation, start, end, JSON")
            relation = fields[1][3:]
            if relation in skip or (wanted is not None and relation not in wanted):
                continue
            a, b = _concept(fields[2], language), _concept(fields[3], language)
            if a is None or b is None or a == b:
                continue
            try:
                weight = float(json.loads(fields[4]).get("weight", 1.0))
            except (ValueError, AttributeError):
                raise DataFormatError(file, number, "the fifth field is not a JSON object with a numeric weight") from None
            out.append((a, b, weight))
    return out


def objective(original: Vectors, new: Vectors | np.ndarray, edges: Edges, alpha: float = 1.0) -> float:
    """Ψ(Q) for ``new`` against ``original`` (only words with an edge have an α term: the others
    never move, so their terms are zero)."""
    q = new.matrix if isinstance(new, Vectors) else new
    q_hat = original.matrix
    nodes = sorted({i for edge in edges for i in edge})
    fit = alpha * float(np.sum((q[nodes] - q_hat[nodes]) ** 2))
    pairs = np.array(list(edges), dtype=np.int64).reshape(-1, 2)
    weights = np.array(list(edges.values()))
    return fit + float(np.sum(weights * np.sum((q[pairs[:, 0]] - q[pairs[:, 1]]) ** 2, axis=1)))


def retrofit(vectors: Vectors, edges: Edges, *, iterations: int = 10, alpha: float = 1.0, exact: bool = True,
             callback=None) -> Vectors:
    """Vectors retrofitted to ``edges`` (``edges_from_pairs`` or ``read_edges``); words without an
    edge keep their vectors. ``callback(iteration, matrix)``, if given, sees each sweep's result."""
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0 (each word's pull back to its original vector), got {alpha!r}")
    neighbours: dict[int, dict[int, float]] = defaultdict(dict)
    for (i, j), beta in edges.items():
        neighbours[i][j] = neighbours[i].get(j, 0.0) + beta
        if exact:  # Ψ's terms β_ji ‖q_j − q_i‖² pull on q_i too
            neighbours[j][i] = neighbours[j].get(i, 0.0) + beta
    order = sorted(neighbours)
    index = {i: (np.array(list(neighbours[i])), np.array(list(neighbours[i].values()))) for i in order}
    q_hat = vectors.matrix.astype(np.float64)
    q = q_hat.copy()
    for iteration in range(iterations):
        for i in order:  # in place: each update sees the newest neighbours (Gauss-Seidel)
            js, betas = index[i]
            q[i] = (alpha * q_hat[i] + betas @ q[js]) / (alpha + betas.sum())
        if callback is not None:
            callback(iteration, q)
    return Vectors(vectors.words, q.astype(np.float32))
