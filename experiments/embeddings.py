"""What a user does with word vectors: neighbours, analogies, similarity, pictures, debiasing, retrofitting.

The lectures' embeddings part on a GloVe- or word2vec-format file (the samples in
../shared/data/glove, or a full file such as glove.6B.100d.txt):

    python -m experiments.embeddings                                             # the 50-d GloVe sample
    python -m experiments.embeddings --vectors=glove.6B.100d.txt --words=frog,king,france
    python -m experiments.embeddings --vectors=glove.6B.300d.txt --graph=ppdb-xl.lexicon --restrict_vocab=300000

It prints and writes to ``--out_dir``:
  * the nearest neighbours of ``--words`` (cosine, the query excluded);
  * the analogy questions (Mikolov et al.) per section and in total, with coverage, by 3CosAdd and
    3CosMul, and WordSim-353 and SimLex-999 Spearman correlations with out-of-vocabulary pairs
    counted, all with gensim's conventions (``seqjax.embeddings.evaluate``);
  * proximity plots (PCA, t-SNE) and the vectors of the chosen words as a heatmap;
  * debiasing (Bolukbasi et al. 2016): the direct gender bias of occupations and the extreme
    "she" and "he" occupations, before and after hard debiasing;
  * retrofitting (Faruqui et al. 2015) to ``--graph`` (a lexicon "word n1 n2 ...", weighted pairs,
    ConceptNet's CSV assertions, or ``wordnet``: WordNet 3.0's synonyms from Debian's wordnet-base,
    ``wordnet:<dir>`` for its files elsewhere), with the evaluations before and after.

With ``--train`` it first trains the vectors on ``--corpus`` (``seqjax.embeddings.train_vectors``, a run
directory under ``--out_dir``/train that a rerun resumes), then reports on them as on a file:

    python -m experiments.embeddings --train=skipgram                             # word2vec on Multi30k English
    python -m experiments.embeddings --train=skipgram --gensim=true               # and gensim's Word2Vec beside it
    python -m experiments.embeddings --train=glove --corpus=lee --min_count=2
    python -m experiments.embeddings --train=next_word --corpus=my_text.txt --epochs=3

``--corpus`` is multi30k (the 29,000 English training sentences), shakespeare (tiny Shakespeare's
non-empty lines), lee (the Lee background corpus, a document per line) or a text file with a
sentence per line; every line is lowercased and split on spaces.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Literal

from seqjax import data
from seqjax.embeddings import Vectors, debias, evaluate_analogies, evaluate_similarity, retrofit
from seqjax.embeddings.plots import proximity_plot, vector_heatmap
from seqjax.train.config import check_config

# -----------------------------------------------------------------------------
# config


@dataclasses.dataclass(frozen=True)
class Config:
    vectors: str = "glove/glove.6B.50d.subset.txt"  # a vector file, or a name under the data folders
    data: str = ""                                   # a folder holding analogy/ and wordsim/; "" = search the data dirs
    limit: int = 0                                   # read only the first N vectors (0: all)
    restrict_vocab: int = 300000                     # the evaluations' most frequent words (gensim's default)
    words: tuple[str, ...] = ("king", "france", "frog", "computer", "year", "government", "man", "dog", "red", "water")
    neighbours: int = 8
    plot_words: tuple[str, ...] = ("he", "she", "man", "woman", "king", "queen", "boy", "girl", "day", "year",
                                   "week", "month", "one", "two", "three", "four", "city", "country", "state", "government")
    graph: str = ""                                  # a graph file, or wordnet[:folder] (its synonyms), to retrofit to ("" = none)
    iterations: int = 10
    train: Literal["", "skipgram", "glove", "next_word"] = ""  # train on --corpus ("": load --vectors)
    corpus: str = "multi30k"                         # multi30k, shakespeare, lee, or a text file (a sentence per line)
    min_count: int = 3
    dim: int = 100
    epochs: int = 0                                  # 0: the objective's default (SkipGram 5, GloVe 25, NextWord 3)
    sample: float = 1e-3                             # skip-gram's subsampling of frequent words (0: none; small corpora)
    x_max: float = 10.0                              # GloVe's weighting cutoff (the paper's 100 suits billions of words)
    seed: int = 1
    gensim: bool = False                             # with --train=skipgram: gensim's Word2Vec too, scored the same way
    out_dir: str = "runs/embeddings"


CORPORA = ("multi30k", "shakespeare", "lee")


def objective(config: Config):
    """The training objective ``--train`` names, built (so bad settings fail before anything is written)."""
    from seqjax.embeddings import GloVe, NextWord, SkipGram

    makers = {"skipgram": lambda: SkipGram(dim=config.dim, sample=config.sample), "glove": lambda: GloVe(dim=config.dim, x_max=config.x_max),
              "next_word": lambda: NextWord(dim=config.dim)}
    if config.train not in makers:
        raise ValueError(f"--train must be one of {sorted(makers)} (or empty to load --vectors), got {config.train!r}")
    made = makers[config.train]()
    return dataclasses.replace(made, epochs=config.epochs) if config.epochs else made


def check(config: Config) -> None:
    """Every setting that can be checked before anything is read or written; a bad one exits with its name."""
    check_config(config)
    if config.train:
        try:
            objective(config)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        if config.corpus not in CORPORA and not pathlib.Path(config.corpus).is_file():
            raise SystemExit(f"error: --corpus must be one of {CORPORA} or a text file, got {config.corpus!r} (no such file)")
        if config.min_count < 1:
            raise SystemExit(f"error: --min_count must be >= 1, got {config.min_count}")
    if config.gensim and config.train != "skipgram":
        raise SystemExit("error: --gensim compares gensim's Word2Vec with --train=skipgram")


def sentences(config: Config) -> list[list[str]]:
    where = config.data or None
    if config.corpus == "multi30k":
        lines = [english for _, english in data.datasets.multi30k("train", where)]
    elif config.corpus == "shakespeare":
        lines = [line for line in data.datasets.tiny_shakespeare(where).splitlines() if line.strip()]
    elif config.corpus == "lee":
        lines = data.datasets.lee(where)
    elif pathlib.Path(config.corpus).is_file():
        lines = [line for line in pathlib.Path(config.corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        raise ValueError(f"--corpus must be one of {CORPORA} or a text file, got {config.corpus!r} (no such file)")
    return [line.lower().split() for line in lines]


def train(config: Config, out: pathlib.Path) -> tuple[Vectors, dict]:
    from seqjax.embeddings import Corpus, train_vectors
    from seqjax.train import Run

    chosen = objective(config)
    corpus = Corpus.build(sentences(config), min_count=config.min_count)
    print(f"{config.corpus}: {corpus.raw_words:,} words, {len(corpus):,} in the vocabulary (min_count {config.min_count}); training {chosen}")
    start = time.perf_counter()
    vectors = train_vectors(corpus, chosen, seed=config.seed, run=Run(out / "train", config, checkpoint_every=200, tensorboard=False))
    seconds = time.perf_counter() - start
    vectors.save(out / "vectors.txt")
    info = {"objective": chosen.name, "words": corpus.raw_words, "vocab": len(corpus), "train_s": seconds,
            "words_per_s": corpus.raw_words * chosen.epochs / seconds}
    print(f"trained in {seconds:.1f} s ({info['words_per_s']:,.0f} words/s); vectors in {out / 'vectors.txt'}")
    if config.gensim and config.train == "skipgram":
        from gensim.models import Word2Vec

        start = time.perf_counter()
        model = Word2Vec(sentences(config), vector_size=config.dim, window=chosen.window, min_count=config.min_count, sg=1, negative=chosen.negative,
                         sample=chosen.sample, epochs=chosen.epochs, workers=2, seed=config.seed)
        info["gensim"] = {"train_s": time.perf_counter() - start, "measures": evaluations(Vectors(model.wv.index_to_key, model.wv.vectors), config)}
        print(f"gensim's Word2Vec, same settings: {info['gensim']['train_s']:.1f} s\n{summary(info['gensim']['measures'])}")
    return vectors, info


def load(config: Config) -> Vectors:
    path = pathlib.Path(config.vectors)
    if not path.is_file():
        path = data.locate(config.vectors, config.data or None)
    vectors = Vectors.load(path, limit=config.limit or None)
    print(f"{len(vectors):,} vectors of {vectors.dim} dimensions from {path}")
    return vectors


# -----------------------------------------------------------------------------
# the measures, as one dictionary


def evaluations(vectors: Vectors, config: Config) -> dict:
    where = config.data or None
    questions = data.datasets.analogies(where, lower=False)
    out = {f"analogies_{m}": evaluate_analogies(vectors, questions, restrict_vocab=config.restrict_vocab, method=m)
           for m in ("3cosadd", "3cosmul")}
    for name in ("wordsim353", "simlex999"):
        try:
            out[name] = evaluate_similarity(vectors, data.datasets.word_similarity(name, where, lower=False),
                                            restrict_vocab=config.restrict_vocab)
        except ValueError as error:  # too few pairs covered for a correlation
            out[name] = {"error": str(error)}
    return out


def summary(measures: dict) -> str:
    lines = []
    for m in ("3cosadd", "3cosmul"):
        r = measures[f"analogies_{m}"]
        lines.append(f"analogies ({m}): {100 * r['accuracy']:.1f}% of the {r['covered']:,} questions covered "
                     f"({r['questions']:,} in all, {r['oov_ratio']:.1f}% out of vocabulary)")
    for name in ("wordsim353", "simlex999"):
        r = measures[name]
        lines.append(f"{name}: " + (r["error"] if "error" in r else
                                    f"Spearman {r['spearman']:.3f}, Pearson {r['pearson']:.3f} over {r['covered']} of "
                                    f"{r['pairs']} pairs ({r['oov_ratio']:.1f}% out of vocabulary)"))
    return "\n".join(lines)


def bias_report(vectors: Vectors) -> dict:
    direction = debias.gender_direction(vectors)
    she, he = debias.extreme_words(vectors, debias.OCCUPATIONS, direction, k=8)
    return {"direct_bias": debias.direct_bias(vectors, debias.OCCUPATIONS, direction),
            "occupations_present": sum(w in vectors for w in debias.OCCUPATIONS),
            "extreme_she": she, "extreme_he": he}


# -----------------------------------------------------------------------------
# the experiment


def main(config: Config) -> dict:
    print(config)
    check(config)
    out = pathlib.Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trained = train(config, out) if config.train else None
    vectors = trained[0] if trained else load(config)
    report = {"vectors": str(out / "vectors.txt") if trained else config.vectors, "count": len(vectors), "dim": vectors.dim}
    if trained:
        report["training"] = trained[1]

    # neighbours
    chosen = [w for w in config.words if w in vectors]
    missing = [w for w in config.words if w not in vectors]
    if missing:
        print(f"not in the vocabulary: {' '.join(missing)}")
    report["neighbours"] = dict(zip(chosen, vectors.most_similar(chosen, k=config.neighbours))) if chosen else {}
    for word, near in report["neighbours"].items():
        print(f"{word:>12}: " + ", ".join(f"{w} ({s:.2f})" for w, s in near))

    # analogies and similarity
    report["before"] = evaluations(vectors, config)
    print(summary(report["before"]))

    # pictures
    plotted = [w for w in config.plot_words if w in vectors]
    if len(plotted) >= 3:
        report["plots"] = [str(proximity_plot(vectors, plotted, out / "pca.png")),
                           str(proximity_plot(vectors, plotted, out / "tsne.png", method="tsne")),
                           str(vector_heatmap(vectors, plotted[:12], out / "bands.png"))]

    # debiasing
    try:
        before = bias_report(vectors)
        debiased = debias.hard_debias(vectors)
        after = bias_report(debiased)
        after["direct_bias_on_the_original_direction"] = debias.direct_bias(debiased, debias.OCCUPATIONS, debias.gender_direction(vectors))
        report["debias"] = {"before": before, "after": after, "evaluations_after": evaluations(debiased, config)}
        print(f"direct gender bias of {before['occupations_present']} occupations: {before['direct_bias']:.3f} before, "
              f"{after['direct_bias_on_the_original_direction']:.2e} after hard debiasing")
        print("  extreme 'she':", ", ".join(w for w, _ in before["extreme_she"]))
        print("  extreme 'he': ", ", ".join(w for w, _ in before["extreme_he"]))
    except ValueError as error:  # too few definitional pairs or occupations in a small vocabulary
        report["debias"] = {"error": str(error)}
        print(f"debiasing skipped: {error}")

    # retrofitting
    if config.graph:
        graph = pathlib.Path(config.graph)
        if config.graph.startswith("wordnet"):  # "wordnet" or "wordnet:<folder of data.noun ...>"
            from seqjax.embeddings.wordnet import wordnet_pairs

            pairs_or_edges = retrofit.edges_from_pairs(vectors, wordnet_pairs(config.graph.partition(":")[2] or None))
        elif ".csv" in graph.suffixes:
            pairs_or_edges = retrofit.edges_from_pairs(vectors, retrofit.conceptnet_pairs(graph))
        else:
            pairs_or_edges = retrofit.read_edges(graph, vectors)
        edges, unknown = pairs_or_edges
        values = [retrofit.objective(vectors, vectors, edges)]
        fitted = retrofit.retrofit(vectors, edges, iterations=config.iterations,
                                   callback=lambda it, q: values.append(retrofit.objective(vectors, q, edges)))
        report["retrofit"] = {"edges": len(edges), "unknown": unknown, "objective": values, "after": evaluations(fitted, config)}
        print(f"retrofitted to {len(edges):,} edges ({unknown:,} pairs with a word without a vector); Ψ {values[0]:.1f} -> {values[-1]:.1f}")
        print(summary(report["retrofit"]["after"]))
        fitted.save(out / "retrofitted.txt")
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out / 'report.json'}")
    return report


if __name__ == "__main__":
    from seqjax.train.config import run_main

    run_main(main, Config(), __doc__)
