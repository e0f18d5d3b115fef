"""Plots of what a model does: attention heatmaps (which source words each output word read).

    attention_heatmap(weights, source_tokens, output_tokens, "runs/translate/attention/0.png")

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
