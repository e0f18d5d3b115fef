"""Plots of what a model does: attention heatmaps (which source words each output word read),
captioned images, and a captioner's attention over an image, word by word.

    attention_heatmap(weights, source_tokens, output_tokens, "runs/translate/attention/0.png")
    caption_grid(images, captions, "runs/caption/attend/captions.png", truth=gold_captions)
    attention_over_image(image, words, weights, "runs/caption/attend/attention/0.png")   # weights [words, grid²]
    confusion_matrix(confusion, class_names, "runs/ontology/word_cnn/confusion.png")   # rows: true, columns: predicted

matplotlib is imported only when a plot is drawn (Agg backend: no display needed).
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import numpy as np


def attention_heatmap(weights, source_tokens: Sequence[str], output_tokens: Sequence[str], path: str | pathlib.Path,
                      title: str = "") -> pathlib.Path:
    """Saves ``weights [len(output_tokens), len(source_tokens)]`` (row i: the attention of output
    token i over the source) as a PNG with the tokens as tick labels; returns its path."""
    plt = pyplot()

    weights = np.asarray(weights, np.float32)[: len(output_tokens), : len(source_tokens)]
    if weights.shape != (len(output_tokens), len(source_tokens)):
        raise ValueError(f"weights must cover [{len(output_tokens)} outputs, {len(source_tokens)} source tokens], "
                         f"got shape {np.shape(weights)}")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * len(source_tokens), 1.0 + 0.4 * len(output_tokens)))
    ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source_tokens)), list(source_tokens), rotation=60, ha="right")
    ax.set_yticks(range(len(output_tokens)), list(output_tokens))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def pyplot():
    """``matplotlib.pyplot`` drawing to files (the Agg backend: no display needed): every plot's one preamble."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def caption_grid(images, captions: Sequence[str], path: str | pathlib.Path, *, truth: Sequence[str] | None = None,
                 columns: int = 4) -> pathlib.Path:
    """Saves ``images [n, h, w, 3]`` (values in [0, 1]) in a grid, each titled with its caption
    (red when it differs from ``truth``); returns the path."""
    plt = pyplot()
    images = np.asarray(images)
    if images.ndim != 4 or len(images) != len(captions):
        raise ValueError(f"caption_grid needs images [n, h, w, c] and n captions, got {images.shape} and {len(captions)}")
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image, caption) in enumerate(zip(axes.flat, images, captions)):
        ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
        wrong = truth is not None and truth[i] != caption
        text = _wrap(caption) + (f"\n(truth: {_wrap(truth[i])})" if wrong else "")
        ax.set_title(text, fontsize=8, color="firebrick" if wrong else "black")
    fig.tight_layout()
    return _save(fig, path)


def attention_over_image(image, words: Sequence[str], weights, path: str | pathlib.Path, title: str = "") -> pathlib.Path:
    """Saves the image and, per generated word, the attention ``weights [len(words), g·g]`` over its
    ``g x g`` feature-map locations, stretched over the image; returns the path."""
    plt = pyplot()
    image = np.asarray(image)
    weights = np.asarray(weights, np.float32)[: len(words)]
    g = int(round(np.sqrt(weights.shape[-1])))
    if weights.shape != (len(words), g * g):
        raise ValueError(f"weights must be [len(words)={len(words)}, grid²], got shape {np.shape(weights)}")
    h, w = image.shape[:2]
    fig, axes = plt.subplots(1, len(words) + 1, figsize=(1.9 * (len(words) + 1), 2.3), squeeze=False)
    axes = axes[0]
    axes[0].imshow(np.clip(image, 0, 1), interpolation="nearest")
    axes[0].set_title("image", fontsize=9)
    for ax, word, alpha in zip(axes[1:], words, weights):
        ax.imshow(np.clip(image, 0, 1) * 0.45, interpolation="nearest")
        ax.imshow(alpha.reshape(g, g), cmap="magma", alpha=0.65, extent=(-0.5, w - 0.5, h - 0.5, -0.5),
                  interpolation="bilinear", vmin=0.0, vmax=max(float(alpha.max()), 1e-6))
        ax.set_title(word, fontsize=10)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def confusion_matrix(confusion, classes: Sequence[str], path: str | pathlib.Path, title: str = "") -> pathlib.Path:
    """Saves a confusion matrix ``[c, c]`` (row: true class, column: predicted; counts) as a PNG,
    each row shaded by its share of the class and labelled with the count; returns the path."""
    plt = pyplot()
    confusion = np.asarray(confusion, np.float64)
    if confusion.shape != (len(classes), len(classes)):
        raise ValueError(f"confusion must be [{len(classes)}, {len(classes)}] for {len(classes)} classes, got {confusion.shape}")
    shares = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    size = 1.5 + 0.55 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            ax.text(j, i, f"{int(count)}", ha="center", va="center", fontsize=7, color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), list(classes), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), list(classes), fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, fraction=0.04, label="share of the true class")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _wrap(text: str, width: int = 34) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(lines + [line])


def _save(fig, path) -> pathlib.Path:
    import matplotlib.pyplot as plt

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
