"""Intrinsic evaluation of word vectors, with gensim's conventions so numbers compare with published ones.

    result = evaluate_analogies(vectors, seqjax.data.datasets.analogies(lower=False))
    result["accuracy"], result["sections"], result["oov_ratio"]      # over the questions covered
    result = evaluate_similarity(vectors, seqjax.data.datasets.word_similarity("wordsim353"))
    result["spearman"], result["pearson"], result["oov_ratio"]

As gensim's ``KeyedVectors.evaluate_word_analogies`` and ``evaluate_word_pairs``:

* only the first ``restrict_vocab`` words count (the most frequent, in a file sorted by frequency);
* ``case_insensitive`` compares words upper-cased, and a word's vector is that of its first
  (most frequent) spelling among those words;
* a question or pair with a word outside them is out of vocabulary: left out of the accuracy and
  the correlations and counted in ``oov_ratio`` (percent), unless ``dummy4unknown`` counts such a
  question as wrong and such a pair as similarity 0;
* an analogy's answer is the best word by 3CosAdd other than the question's words: among the 5
  best, the first whose upper-cased form is none of a, b, c (gensim's rule, so another spelling
  of a question word never answers it).

The Spearman correlation averages the ranks of ties (scipy's ``spearmanr``), computed here in NumPy.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seqjax.embeddings.vectors import Vectors


def _ok_vocab(vectors: Vectors, restrict_vocab: int, case_insensitive: bool) -> dict[str, int]:
    keys = vectors.words[:restrict_vocab]
    fold = str.upper if case_insensitive else (lambda w: w)
    return {fold(w): i for i, w in reversed(list(enumerate(keys)))}  # the first spelling wins


def evaluate_analogies(vectors: Vectors, sections: dict[str, Sequence[tuple[str, str, str, str]]], *, restrict_vocab: int = 300000,
                       case_insensitive: bool = True, dummy4unknown: bool = False, method: str = "3cosadd",
                       batch: int = 512) -> dict:
    """Accuracy on analogy questions ``{section: [(a, b, c, expected), ...]}``. Returns
    ``{"accuracy", "correct", "questions", "covered", "oov", "oov_ratio", "sections": [{"section",
    "correct", "incorrect", "accuracy"}, ...]}`` (accuracy over the covered questions, or over all
    of them with ``dummy4unknown``)."""
    fold = str.upper if case_insensitive else (lambda w: w)
    ok = _ok_vocab(vectors, restrict_vocab, case_insensitive)
    table = vectors.restrict(restrict_vocab)
    out_sections, total_correct, total_counted, oov, questions = [], 0, 0, 0, 0
    for name, items in sections.items():
        folded = [tuple(fold(w) for w in q) for q in items]
        questions += len(folded)
        known = [q for q in folded if all(w in ok for w in q)]
        oov += len(folded) - len(known)
        correct = 0
        for start in range(0, len(known), batch):
            chunk = known[start: start + batch]
            rows = np.array([[ok[w] for w in q[:3]] for q in chunk])
            scores = table._analogy_scores_rows(rows, method)
            for q, best in zip(chunk, table._top(scores, [set(r) for r in rows.tolist()], 5)):
                predicted = None
                for word, _ in best:
                    predicted = fold(word)
                    if predicted in ok and predicted not in q[:3]:
                        break
                correct += predicted == q[3]
        counted = len(folded) if dummy4unknown else len(known)
        out_sections.append({"section": name, "correct": correct, "incorrect": counted - correct,
                             "accuracy": correct / counted if counted else 0.0})
        total_correct += correct
        total_counted += counted
    return {"accuracy": total_correct / total_counted if total_counted else 0.0, "correct": total_correct, "questions": questions,
            "covered": questions - oov, "oov": oov, "oov_ratio": 100.0 * oov / questions if questions else 0.0,
            "sections": out_sections}


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), np.float64)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i: j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def pearson(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / np.sqrt((x @ x) * (y @ y)))


def spearman(x, y) -> float:
    return pearson(_ranks(np.asarray(x, np.float64)), _ranks(np.asarray(y, np.float64)))


def evaluate_similarity(vectors: Vectors, pairs: Sequence[tuple[str, str, float]], *, restrict_vocab: int = 300000,
                        case_insensitive: bool = True, dummy4unknown: bool = False) -> dict:
    """Correlation of cosine similarities with human scores ``[(word1, word2, score), ...]``.
    Returns ``{"spearman", "pearson", "pairs", "covered", "oov", "oov_ratio"}``."""
    fold = str.upper if case_insensitive else (lambda w: w)
    ok = _ok_vocab(vectors, restrict_vocab, case_insensitive)
    unit = vectors.unit
    gold, model, oov = [], [], 0
    for a, b, score in pairs:
        a, b = fold(a), fold(b)
        if a not in ok or b not in ok:
            oov += 1
            if dummy4unknown:
                gold.append(score)
                model.append(0.0)
            continue
        gold.append(score)
        model.append(float(unit[ok[a]] @ unit[ok[b]]))
    if len(gold) < 2:
        raise ValueError(f"only {len(gold)} of the {len(pairs)} pairs have both words in the vocabulary: no correlation to compute")
    covered = len(pairs) - oov
    ratio = 100.0 * oov / (len(gold) if dummy4unknown else len(gold) + oov)  # gensim's two denominators
    return {"spearman": spearman(gold, model), "pearson": pearson(gold, model), "pairs": len(pairs), "covered": covered,
            "oov": oov, "oov_ratio": ratio}
