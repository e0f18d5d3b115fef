"""Pictures of word vectors: the lectures' proximity plots (PCA or t-SNE to 2-D) and the "banded
structure" heatmap of chosen words' vectors.

    proximity_plot(vectors, ["king", "queen", "man", "woman", "frog", "toad"], "runs/embeddings/pca.png")
    proximity_plot(vectors, words, "runs/embeddings/tsne.png", method="tsne", perplexity=5)
    vector_heatmap(vectors, ["king", "queen", "man", "woman"], "runs/embeddings/bands.png")

``pca`` projects on the two leading principal components (an SVD of the centred rows). ``tsne``
is exact t-SNE (van der Maaten & Hinton 2008): Gaussian affinities calibrated to ``perplexity``
by bisection, a Student-t kernel in 2-D, gradient descent with momentum and early exaggeration,
compiled with ``jax.jit``; O(n²), meant for the few hundred words a plot shows.
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.embeddings.vectors import Vectors


def pca(x: np.ndarray, components: int = 2) -> np.ndarray:
    """Rows of ``x`` projected on its ``components`` leading principal directions."""
    centred = np.asarray(x, np.float64) - np.mean(x, axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:components].T


def _affinities(x: np.ndarray, perplexity: float) -> np.ndarray:
    """Symmetric P of t-SNE: per row a Gaussian whose entropy is log(perplexity) (bisection on β = 1/2σ²)."""
    d = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    n = len(x)
    p = np.zeros((n, n))
    target = np.log(perplexity)
    for i in range(n):
        lo, hi, beta = 0.0, np.inf, 1.0
        row = np.delete(d[i], i)
        for _ in range(64):
            w = np.exp(-(row - row.min()) * beta)
            q = w / w.sum()
            entropy = -np.sum(q * np.log(np.maximum(q, 1e-300)))
            if abs(entropy - target) < 1e-6:
                break
            if entropy > target:
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        p[i, np.arange(n) != i] = q
    return (p + p.T) / (2 * n)


@jax.jit
def _tsne_step(y, velocity, p, exaggeration, momentum, learning_rate):
    diff = y[:, None] - y[None]
    kernel = 1.0 / (1.0 + jnp.sum(diff ** 2, axis=-1))
    kernel = kernel * (1.0 - jnp.eye(len(y)))
    q = kernel / jnp.sum(kernel)
    grad = 4.0 * jnp.sum(((exaggeration * p - q) * kernel)[:, :, None] * diff, axis=1)
    velocity = momentum * velocity - learning_rate * grad
    return y + velocity, velocity


def tsne(x: np.ndarray, *, perplexity: float = 10.0, steps: int = 1000, learning_rate: float | None = None, seed: int = 0) -> np.ndarray:
    """``[n, 2]`` t-SNE coordinates of the rows of ``x`` (``perplexity`` < n). ``learning_rate``
    defaults to n / 12 (openTSNE's rule; at least 1): larger rates diverge for a few dozen points."""
    n = len(x)
    learning_rate = max(n / 12.0, 1.0) if learning_rate is None else learning_rate
    if not 1.0 <= perplexity < n:
        raise ValueError(f"perplexity must lie in [1, n) for n = {n} points, got {perplexity!r}")
    p = jnp.asarray(np.maximum(_affinities(np.asarray(x, np.float64), perplexity), 1e-12), jnp.float32)
    y = 1e-4 * jax.random.normal(jax.random.key(seed), (n, 2))
    velocity = jnp.zeros_like(y)
    for step in range(steps):
        early = step < 250
        y, velocity = _tsne_step(y, velocity, p, 12.0 if early else 1.0, 0.5 if early else 0.8, learning_rate)
    return np.asarray(y)


def _figure():
    from seqjax.core.plots import pyplot

    return pyplot()


def _save(plt, fig, path: str | pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _present(vectors: Vectors, words: Sequence[str]) -> list[str]:
    present = [w for w in words if w in vectors]
    if len(present) < 2:
        raise ValueError(f"need at least 2 of the words in the vocabulary, found {present}")
    return present


def proximity_plot(vectors: Vectors, words: Sequence[str], path: str | pathlib.Path, *, method: str = "pca",
                   perplexity: float | None = None, title: str = "") -> pathlib.Path:
    """The chosen words (those present) placed by ``method`` "pca" or "tsne" of their unit vectors, labelled; a PNG."""
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    present = _present(vectors, words)
    x = vectors.unit[[vectors.index[w] for w in present]]
    points = pca(x) if method == "pca" else tsne(x, perplexity=perplexity or min(10.0, (len(present) - 1) / 3))
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.scatter(points[:, 0], points[:, 1], s=12)
    for word, (px, py) in zip(present, points):
        ax.annotate(word, (px, py), fontsize=9, xytext=(3, 3), textcoords="offset points")
    ax.set_title(title or f"{method.upper()} of {len(present)} word vectors")
    return _save(plt, fig, path)


def vector_heatmap(vectors: Vectors, words: Sequence[str], path: str | pathlib.Path, *, title: str = "") -> pathlib.Path:
    """The chosen words' vectors as rows of a heatmap (the lectures' banded-structure figure); a PNG."""
    present = _present(vectors, words)
    rows = vectors.matrix[[vectors.index[w] for w in present]]
    plt = _figure()
    fig, ax = plt.subplots(figsize=(min(2 + 0.12 * vectors.dim, 18), 1 + 0.35 * len(present)))
    limit = float(np.abs(rows).max())
    ax.imshow(rows, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(len(present)), present)
    ax.set_xlabel("dimension")
    ax.set_title(title or f"{vectors.dim}-dimensional vectors")
    return _save(plt, fig, path)
