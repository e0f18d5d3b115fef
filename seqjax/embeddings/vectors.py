"""Word vectors with their vocabulary: lookup, nearest neighbours, analogies, and a task's embedding matrix.

    vectors = Vectors.load("glove.6B.100d.txt")             # GloVe or word2vec, text or binary, plain or .gz
    vectors["frog"]                                          # [100]; a word it lacks is a KeyError that says so
    vectors.most_similar("frog", k=5)                        # [("frogs", 0.82), ("toad", 0.78), ...]: cosine, the query excluded
    vectors.analogy("man", "king", "woman")                  # man : king :: woman : ?  ->  [("queen", ...), ...]
    matrix, found = vectors.embedding_matrix(vocab.tokens)   # rows in the task vocabulary's order, for seqjax.Embedding
    vectors.save("small.w2v.bin")

Similarities are cosines: rows are compared after scaling to unit length (``unit``). The
neighbour and analogy searches run over the whole table at once as one matrix product and
``jax.lax.top_k``, batched over queries. Analogies a : b :: c : ? score every word x by

    3CosAdd (Mikolov et al. 2013):   cos(x, b) − cos(x, a) + cos(x, c)
    3CosMul (Levy & Goldberg 2014):  cos'(x, b) · cos'(x, c) / (cos'(x, a) + ε),  cos' = (1 + cos) / 2

with a, b and c themselves excluded from the answers, as in gensim's ``most_similar`` and
``most_similar_cosmul`` (``seqjax.embeddings.evaluate`` follows its evaluation conventions).
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.data.vector_files import read_vectors, write_vectors

METHODS = ("3cosadd", "3cosmul")


def unit(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length one (a zero row stays zero)."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


@jax.jit
def _cosines(table: jax.Array, queries: jax.Array) -> jax.Array:
    """``[q, n]`` cosines of unit ``queries [q, d]`` with unit ``table [n, d]``."""
    return queries @ table.T


class Vectors:
    """``words`` (distinct, in file order: usually by frequency) and ``matrix [n, d]`` float32."""

    def __init__(self, words: Sequence[str], matrix: np.ndarray):
        matrix = np.asarray(matrix, np.float32)
        words = list(words)
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise ValueError(f"matrix must have shape [len(words)={len(words)}, dim], got {matrix.shape}")
        if not np.all(np.isfinite(matrix)):
            raise ValueError(f"matrix holds NaN or infinite values (row {int(np.argwhere(~np.isfinite(matrix))[0, 0])})")
        self.words = words
        self.matrix = matrix
        self.index = {}
        for i, w in enumerate(words):
            if w in self.index:
                raise ValueError(f"word {w!r} is given twice (rows {self.index[w]} and {i})")
            self.index[w] = i
        self._unit = None

    @classmethod
    def load(cls, path: str | os.PathLike, *, format: str | None = None, limit: int | None = None) -> "Vectors":
        """A GloVe or word2vec file (``seqjax.embeddings.formats``), its first ``limit`` rows if given."""
        return cls(*read_vectors(path, format=format, limit=limit))

    def save(self, path: str | os.PathLike, *, format: str | None = None):
        """Writes the vectors; ``format`` defaults to word2vec binary for a ``.bin`` name, else GloVe text."""
        path = os.fspath(path)
        return write_vectors(path, self.words, self.matrix, format=format or ("word2vec_bin" if ".bin" in path else "glove"))

    # --- lookup ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return self.matrix.shape[1]

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.matrix[self._row(word)]

    def _row(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"{word!r} is not in the vocabulary of these {len(self):,} vectors") from None

    @property
    def unit(self) -> np.ndarray:
        """The rows at unit length (computed once)."""
        if self._unit is None:
            self._unit = unit(self.matrix)
        return self._unit

    def normalized(self) -> "Vectors":
        """The same words with unit-length vectors."""
        return Vectors(self.words, self.unit)

    def restrict(self, n: int) -> "Vectors":
        """The first ``n`` words (the most frequent, in a file sorted by frequency)."""
        return Vectors(self.words[:n], self.matrix[:n])

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.unit[self._row(a)] @ self.unit[self._row(b)])

    def embedding_matrix(self, vocabulary: Iterable[str], *, key: jax.Array | None = None, seed: int | None = None,
                         scale: float | None = None, lower: bool = False, zero_ids: Iterable[int] = ()) -> tuple[np.ndarray, int]:
        """``(matrix [len(vocabulary), dim], found)``: row i is the vector of the i-th word, or, for a
        word these vectors lack, U(−scale, scale) from ``key`` (a JAX key) or ``seed`` (NumPy's
        ``default_rng``, as the data pipeline draws) (zeros with neither; ``scale`` defaults to the
        vectors' standard deviation; Kim 2014 used 0.25); ``lower`` also tries the lowercased word;
        rows ``zero_ids`` (padding) are zero. ``found`` counts the words found. The library's one
        initialiser of an embedding table from pretrained vectors."""
        if key is not None and seed is not None:
            raise ValueError("embedding_matrix: pass key (JAX) or seed (NumPy), not both")
        vocabulary = list(vocabulary)
        scale = float(self.matrix.std()) if scale is None else scale
        shape = (len(vocabulary), self.dim)
        if key is not None:
            out = np.array(jax.random.uniform(key, shape, jnp.float32, -scale, scale))
        elif seed is not None:
            out = np.random.default_rng(seed).uniform(-scale, scale, shape).astype(np.float32)
        else:
            out = np.zeros(shape, np.float32)
        found = 0
        for i, word in enumerate(vocabulary):
            row = self.index.get(word, self.index.get(word.lower()) if lower else None)
            if row is not None:
                out[i] = self.matrix[row]
                found += 1
        for i in zero_ids:
            out[i] = 0.0
        return out, found

    # --- neighbours and analogies ---------------------------------------------------------------------

    def _top(self, scores: np.ndarray, exclude: list[set[int]], k: int) -> list[list[tuple[str, float]]]:
        """The ``k`` best words of each row of ``scores [q, n]``, leaving out each row's ``exclude``."""
        extra = max((len(e) for e in exclude), default=0)
        values, indices = jax.lax.top_k(jnp.asarray(scores), min(k + extra, scores.shape[1]))
        out = []
        for row_values, row_indices, skip in zip(np.asarray(values), np.asarray(indices), exclude):
            best = [(self.words[i], float(v)) for v, i in zip(row_values, row_indices) if i not in skip]
            out.append(best[:k])
        return out

    def most_similar(self, words: str | Sequence[str], k: int = 10) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
        """The ``k`` nearest words by cosine, the query itself excluded. A list of words is
        answered in one batched search (a list of answers)."""
        single = isinstance(words, str)
        queries = [words] if single else list(words)
        rows = [self._row(w) for w in queries]
        scores = np.asarray(_cosines(jnp.asarray(self.unit), jnp.asarray(self.unit[rows])))
        out = self._top(scores, [{r} for r in rows], k)
        return out[0] if single else out

    def nearest_to_vector(self, vector: np.ndarray, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words nearest by cosine to any vector."""
        scores = np.asarray(_cosines(jnp.asarray(self.unit), jnp.asarray(unit(np.asarray(vector, np.float32)[None]))))
        return self._top(scores, [set()], k)[0]

    def analogy_scores(self, questions: Sequence[tuple[str, str, str]], method: str = "3cosadd") -> np.ndarray:
        """``[q, n]`` scores of every word as the answer of each ``(a, b, c)`` (module docstring)."""
        return self._analogy_scores_rows(np.array([[self._row(w) for w in q] for q in questions]).reshape(-1, 3), method)

    def _analogy_scores_rows(self, rows: np.ndarray, method: str) -> np.ndarray:
        """``analogy_scores`` for the row indices ``[q, 3]`` of (a, b, c)."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        table = jnp.asarray(self.unit)
        cos = [_cosines(table, table[rows[:, j]]) for j in range(3)]  # cos(x, a), cos(x, b), cos(x, c)
        if method == "3cosadd":
            return np.asarray(cos[1] - cos[0] + cos[2])
        a, b, c = ((x + 1.0) / 2.0 for x in cos)
        return np.asarray(b * c / (a + 1e-6))

    def analogy(self, a: str, b: str, c: str, k: int = 1, method: str = "3cosadd") -> list[tuple[str, float]]:
        """a : b :: c : ?, the ``k`` best answers other than a, b and c."""
        return self.analogies([(a, b, c)], k=k, method=method)[0]

    def analogies(self, questions: Sequence[tuple[str, str, str]], k: int = 1, method: str = "3cosadd") -> list[list[tuple[str, float]]]:
        """Many analogies in one batched search."""
        scores = self.analogy_scores(questions, method)
        return self._top(scores, [{self.index[w] for w in q} for q in questions], k)
