"""Word2vec (skip-gram, negative sampling) side by side: seqjax's ``SkipGram`` and gensim's ``Word2Vec``.

Both train on Multi30k's 29,000 English training sentences (lowercased, split on spaces: 345,020
words) with the same settings: 100 dimensions, window 5, ``min_count`` 3, 5 negatives, subsampling
1e-3, 5 epochs, rate 0.025 falling to 0.0001; gensim with 2 worker threads (one per core here).
Each seed trains both, one after the other in this process, and the same code
(``seqjax.embeddings.evaluate``, gensim's conventions) scores both: the analogy questions and
WordSim-353 over the words each model has (the vocabularies are the same, so the coverage is too).

Time is the wall time from token lists to vectors: gensim's ``Word2Vec(sentences, ...)`` (vocabulary
and training), seqjax's ``Corpus.build`` and ``train_vectors`` (vocabulary, compiling the train
step, training; every run compiles afresh). ``words/s`` is 5 epochs × 345,020 words over that time;
``train s`` leaves out the vocabulary for both (gensim's ``total_train_time``) and, for seqjax, is
the ``fit`` loop alone (compiling included). The ``mean`` rows average the seeds, and
``vs_gensim`` is gensim's time over seqjax's.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import jax

from benchmarks.common import finish, format_table, run_main
from seqjax import data
from seqjax.embeddings import Corpus, SkipGram, Vectors, evaluate_analogies, evaluate_similarity, train_vectors


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: tuple[int, ...] = (1, 2, 3)
    dim: int = 100
    window: int = 5
    min_count: int = 3
    epochs: int = 5
    workers: int = 2              # gensim's threads
    sentences: int = 0            # use the first N training sentences (0: all 29,000)
    data: str = ""                # a folder with multi30k/, analogy/, wordsim/ ("" = the data dirs)
    out: str = "benchmarks/results/word2vec.json"


def scores(vectors: Vectors, config: Config) -> dict:
    where = config.data or None
    analogies = evaluate_analogies(vectors, data.datasets.analogies(where, lower=False))
    wordsim = evaluate_similarity(vectors, data.datasets.word_similarity("wordsim353", where, lower=False))
    return {"analogies": analogies["accuracy"], "analogies_covered": analogies["covered"],
            "wordsim": wordsim["spearman"], "wordsim_oov_pct": wordsim["oov_ratio"], "vocab": len(vectors)}


def run_gensim(sentences, config: Config, seed: int) -> dict:
    from gensim.models import Word2Vec

    start = time.perf_counter()
    model = Word2Vec(sentences, vector_size=config.dim, window=config.window, min_count=config.min_count, epochs=config.epochs,
                     workers=config.workers, sg=1, negative=5, sample=1e-3, alpha=0.025, min_alpha=1e-4, seed=seed)
    total = time.perf_counter() - start
    return {"total_s": total, "train_s": model.total_train_time, **scores(Vectors(model.wv.index_to_key, model.wv.vectors), config)}


def run_seqjax(sentences, config: Config, seed: int) -> dict:
    start = time.perf_counter()
    corpus = Corpus.build(sentences, min_count=config.min_count)
    built = time.perf_counter()
    vectors = train_vectors(corpus, SkipGram(dim=config.dim, window=config.window, epochs=config.epochs), seed=seed, log_every=10**9)
    end = time.perf_counter()
    return {"total_s": end - start, "train_s": end - built, **scores(vectors, config)}


def main(config: Config) -> list[dict]:
    pairs = data.datasets.multi30k("train", config.data or None)
    sentences = [english.lower().split() for _, english in pairs][: config.sentences or None]
    words = sum(map(len, sentences)) * config.epochs
    print(f"{len(sentences):,} sentences, {words // config.epochs:,} words; {config.epochs} epochs; jax {jax.__version__}", flush=True)
    rows = []
    with jax.numpy_dtype_promotion("standard"):
        for seed in config.seeds:
            for name, run in (("gensim", run_gensim), ("seqjax", run_seqjax)):
                row = {"contender": name, "seed": str(seed), **run(sentences, config, seed)}
                row["words_per_s"] = words / row["total_s"]
                rows.append(row)
                print(row, flush=True)
    for name in ("gensim", "seqjax"):
        mine = [r for r in rows if r["contender"] == name]
        rows.append({"contender": name, "seed": "mean", **{k: statistics.mean(r[k] for r in mine) for k in mine[0]
                                                            if k not in ("contender", "seed")}})
    for r in rows:
        same = next(g for g in rows if g["contender"] == "gensim" and g["seed"] == r["seed"])
        r["vs_gensim"] = same["total_s"] / r["total_s"]
    return finish(config, rows, table(rows))


def table(rows: list[dict]) -> str:
    return format_table(rows, [("contender", "contender", ""), ("seed", "seed", ""), ("total_s", "s", ".2f"),
                               ("train_s", "train s", ".2f"), ("words_per_s", "words/s", ",.0f"),
                               ("vs_gensim", "speed vs gensim", ".2f"), ("analogies", "analogies", ".3f"),
                               ("analogies_covered", "questions", ".0f"), ("wordsim", "WordSim ρ", ".3f"),
                               ("wordsim_oov_pct", "WordSim OOV %", ".1f")])


if __name__ == "__main__":
    run_main(main, Config(), __doc__)
