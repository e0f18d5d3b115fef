"""The performance targets of the benchmarks' issue against the recorded results, as one table.

``python -m benchmarks.report`` puts it at the top of BENCHMARKS.md, computed from the same
JSON results as the suites' tables, so it cannot drift from them. The targets were set for the
2-core CPU of BENCHMARKS.md, float32, every contender side by side in one process:

- a training step of a one-layer LSTM and GRU at least 1.25x the fastest peer's speed, on every
  ``rnn_step`` shape, and inference likewise;
- compiled generation at least 20x a Python loop of a jitted step;
- a MinGRU training step at least 10x faster than seqjax's own GRU at T = 4096;
- (sequence to sequence) the attention seq2seq training step at least as fast as the same
  architecture in PyTorch, and beam search (width 5) over Multi30k's test set at most 3x the time
  of greedy decoding with the same model;
- (transformers) the encoder–decoder transformer's training step at least as fast as the same
  architecture in Flax and in PyTorch (``nn.Transformer``);
- (word vectors) skip-gram vectors trained at least half as fast as gensim's ``Word2Vec`` (words
  per second, gensim on 2 threads), scoring at least gensim's on the analogies and on WordSim-353.

``measured`` is the ratio the target names: for ``rnn_step`` the fastest peer's median time over
seqjax's, for generation the Python loop's over the compiled loop's, for MinGRU the GRU's over the
fastest MinGRU row's (the fastest mode; the CPU default is ``min_gru_sequential``), for seq2seq
PyTorch's over seqjax's and beam search's time over greedy's (a target met at or below its goal),
for the transformer the peer's over seqjax's.
``bound`` is what the best program could reach in that run, where a suite measures it: for
``rnn_step`` the fastest peer's time over that of ``floor`` (XLA running only the counted matmuls
in seqjax's loop layout), for generation the Python loop's time over a compiled loop of only the
recurrent matvec (both an upper bound of ``measured``), and for beam search one model step at 5
rows per sentence over one at a row per sentence (a lower bound: a search of width 5 runs about as
many steps as greedy, each at least that much slower), and for the transformer the peer's time over
the floor's (XLA running only the step's matmuls). A bound is one in practice, not a proof:
timed in the same run, it has the run's noise, and a loop may beat the floor's layout (on the
H100, seqjax's hoisted loops measured up to 10% above it). A target on the wrong side of its
bound is out of reach on that machine.
"""

from __future__ import annotations

from benchmarks import generation
from benchmarks.common import format_table

STEP = 1.25        # seqjax over the fastest peer, per (mode, cell, shape)
GENERATION = 20.0  # compiled sampler over the Python loop of a jitted step
MINGRU = 10.0      # MinGRU training step over seqjax's GRU ...
MINGRU_T = 4096    # ... at this sequence length
SEQ2SEQ_STEP = 1.0  # seqjax's attention seq2seq training step over PyTorch's
BEAM = 3.0          # beam search (width 5) time over greedy's, at most
TRANSFORMER_STEP = 1.0  # seqjax's encoder-decoder transformer training step over Flax's and over PyTorch's
WORD2VEC_SPEED = 0.5    # seqjax's SkipGram words/s over gensim's Word2Vec (2 threads), mean over seeds


def _target(target: str, case: str, measured: float, goal: float, bound: float | None, at_most: bool = False) -> dict:
    met = measured <= goal if at_most else measured >= goal
    return {"target": target, "case": case, "measured": measured, "bound": bound, "goal": goal, "at_most": at_most,
            "met": "yes" if met else "no"}


def rows(results: dict[str, list[dict]]) -> list[dict]:
    """One row per target and case, from the suites' result rows (``{suite: rows}``; a suite
    without results has no rows here)."""
    out = []
    for r in results.get("rnn_step", []):
        peer = r.get("fastest_peer")
        if peer is not None:  # None when no peer ran
            out.append(_target(f"{r['mode']} ≥ {STEP}x fastest peer", f"{r['cell']} {r['shape']} (vs {peer})",
                               r[f"vs_{peer}"], STEP, r.get("bound_vs_fastest")))
    runs = {r["contender"]: r["ms"] for r in results.get("generation", [])}
    if generation.COMPILED in runs and generation.PYTHON_LOOP in runs:
        bound = runs[generation.PYTHON_LOOP] / runs[generation.FLOOR] if generation.FLOOR in runs else None
        out.append(_target(f"generation ≥ {GENERATION:g}x Python loop", "compiled lax.scan",
                           runs[generation.PYTHON_LOOP] / runs[generation.COMPILED], GENERATION, bound))
    scans = [r for r in results.get("parallel_scan", []) if r["T"] == MINGRU_T]
    gru = next((r for r in scans if r["cell"] == "gru"), None)
    mingru = [r for r in scans if r["cell"].startswith("min_gru")]
    if gru is not None and mingru:
        best = min(mingru, key=lambda r: r["ms"])
        out.append(_target(f"MinGRU ≥ {MINGRU:g}x our GRU", f"T = {MINGRU_T}, {best['cell']}", gru["ms"] / best["ms"], MINGRU, None))
    for r in results.get("seq2seq", []):
        if r["part"] == "train step":
            out.append(_target(f"seq2seq train ≥ {SEQ2SEQ_STEP:g}x PyTorch", f"lengths {r['length']}", r["vs_torch"], SEQ2SEQ_STEP, None))
        elif r["contender"].startswith("beam") and r["contender"].endswith("seqjax.decoding"):
            out.append(_target(f"beam ≤ {BEAM:g}x greedy", r["contender"], r["vs_greedy"], BEAM, r.get("bound_vs_greedy"), at_most=True))
    for r in results.get("transformer", []):
        if r["part"] == "train step":
            for peer in ("flax", "torch"):
                if f"vs_{peer}" in r:
                    out.append(_target(f"transformer train ≥ {TRANSFORMER_STEP:g}x {peer}", r["shape"], r[f"vs_{peer}"], TRANSFORMER_STEP,
                                       r[f"{peer}_ms"] / r["floor_ms"] if r.get("floor_ms") else None))
    means = {r["contender"]: r for r in results.get("word2vec", []) if r["seed"] == "mean"}
    if {"gensim", "seqjax"} <= means.keys():
        ours, theirs = means["seqjax"], means["gensim"]
        out.append(_target(f"word2vec ≥ {WORD2VEC_SPEED:g}x gensim's words/s", "Multi30k English, mean of seeds", ours["vs_gensim"], WORD2VEC_SPEED, None))
        out.append(_target("word2vec analogies ≥ gensim's", "same coverage, mean of seeds", ours["analogies"], theirs["analogies"], None))
        out.append(_target("word2vec WordSim ρ ≥ gensim's", "same coverage, mean of seeds", ours["wordsim"], theirs["wordsim"], None))
    return out


def table(rows: list[dict]) -> str:
    """The rows as a markdown table, with a line that counts the targets met and those out of reach."""
    met = sum(r["met"] == "yes" for r in rows)
    beyond = sum(r["met"] == "no" and r["bound"] is not None and (r["bound"] > r["goal"] if r["at_most"] else r["bound"] < r["goal"])
                 for r in rows)
    columns = [("target", "target", ""), ("case", "case", ""), ("measured", "measured", ".2f"),
               ("bound", "bound", ".2f"), ("met", "met", "")]
    return (f"{format_table(rows, columns)}\n\n{met} of {len(rows)} targets met in this run; "
            f"{beyond} of the {len(rows) - met} not met lie above their bound.")
