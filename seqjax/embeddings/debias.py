"""Hard debiasing of word vectors (Bolukbasi et al. 2016, "Man is to Computer Programmer as Woman is to Homemaker?").

1. **Bias direction** g: the first principal component of the differences of definitional pairs
   (she − he, her − his, woman − man, ...), each pair centred on its mean, on unit vectors.
2. **Direct bias** of gender-neutral words N (e.g. occupations): ``DirectBias_c = mean_{w∈N} |cos(w, g)|^c``.
3. **Neutralise**: every word that is not gender-specific loses its component along g and is
   re-normalised: ``w ← (w − (w·g) g) / ‖w − (w·g) g‖``. Its projection on g is then zero.
4. **Equalise** each pair (e.g. grandmother, grandfather): both words get the same component
   orthogonal to g (the pair's mean, neutralised, ``ν``) and opposite components along g, scaled so
   each stays a unit vector: ``a, b ← ν ± √(1 − ‖ν‖²) g`` (a on the side it was on). Every neutral
   word is then equidistant from the two words of each pair.

Gender-specific words (``specific``) keep their vectors in step 3, as in the paper. The word lists
below are written for seqjax from the paper's description (its ten definitional pairs, and short
seed lists of gender-specific words and of equalise pairs); pass longer lists for serious use.

    debiased = hard_debias(vectors, DEFINITIONAL, specific=GENDER_SPECIFIC, equalize=EQUALIZE)
    direct_bias(vectors, OCCUPATIONS, gender_direction(vectors, DEFINITIONAL))
    extreme_words(vectors, OCCUPATIONS, direction, k=10)                  # the "extreme she / he occupations"
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from seqjax.embeddings.vectors import Vectors, unit

DEFINITIONAL = [("she", "he"), ("her", "his"), ("woman", "man"), ("mary", "john"), ("herself", "himself"),
                ("daughter", "son"), ("mother", "father"), ("gal", "guy"), ("girl", "boy"), ("female", "male")]
EQUALIZE = [("woman", "man"), ("women", "men"), ("girl", "boy"), ("girls", "boys"), ("mother", "father"), ("mothers", "fathers"),
            ("daughter", "son"), ("daughters", "sons"), ("sister", "brother"), ("sisters", "brothers"), ("aunt", "uncle"),
            ("niece", "nephew"), ("queen", "king"), ("princess", "prince"), ("grandmother", "grandfather"), ("wife", "husband"),
            ("she", "he"), ("her", "his"), ("herself", "himself"), ("female", "male"), ("lady", "gentleman"),
            ("businesswoman", "businessman"), ("chairwoman", "chairman"), ("spokeswoman", "spokesman")]
GENDER_SPECIFIC = sorted({w for pair in DEFINITIONAL + EQUALIZE for w in pair} | {
    "actress", "actor", "bride", "groom", "mom", "dad", "mum", "mrs", "mr", "ms", "sir", "madam", "girlfriend", "boyfriend",
    "heroine", "hero", "widow", "widower", "nun", "monk", "waitress", "waiter", "fiancee", "fiance", "stepmother", "stepfather",
    "ladies", "gentlemen", "wives", "husbands", "kings", "queens", "grandson", "granddaughter", "feminine", "masculine",
    "sorority", "fraternity", "motherhood", "fatherhood", "maternity", "paternity", "femininity", "masculinity"})
OCCUPATIONS = ["homemaker", "nurse", "receptionist", "librarian", "socialite", "hairdresser", "nanny", "bookkeeper", "stylist",
               "housekeeper", "designer", "counselor", "teacher", "secretary", "dancer", "singer", "clerk", "cashier", "model",
               "maestro", "skipper", "protege", "philosopher", "captain", "architect", "financier", "warrior", "broadcaster",
               "magician", "boss", "programmer", "engineer", "carpenter", "plumber", "surgeon", "doctor", "lawyer", "scientist",
               "pilot", "manager", "professor", "officer", "soldier", "farmer", "mechanic", "firefighter", "janitor", "chef",
               "journalist", "photographer", "economist", "banker", "judge", "senator", "writer", "artist", "student", "driver"]


def gender_direction(vectors: Vectors, pairs: Sequence[tuple[str, str]] = DEFINITIONAL) -> np.ndarray:
    """The unit bias direction: the first principal component of the pairs' centred unit vectors,
    signed so that the first word of the first pair (she) lies on its positive side. Pairs with a
    word these vectors lack are left out; at least two must remain."""
    present = [(a, b) for a, b in pairs if a in vectors and b in vectors]
    if len(present) < 2:
        raise ValueError(f"only {len(present)} of the {len(pairs)} definitional pairs have both words in the vocabulary; need 2")
    rows = []
    for a, b in present:
        u, v = vectors.unit[vectors.index[a]], vectors.unit[vectors.index[b]]
        centre = (u + v) / 2
        rows += [u - centre, v - centre]
    _, _, vt = np.linalg.svd(np.array(rows), full_matrices=False)  # rows are centred per pair, as in the paper
    g = vt[0]
    a, b = present[0]
    return g if (vectors.unit[vectors.index[a]] - vectors.unit[vectors.index[b]]) @ g > 0 else -g


def direct_bias(vectors: Vectors, words: Iterable[str], direction: np.ndarray, c: float = 1.0) -> float:
    """``mean |cos(w, g)|^c`` over the ``words`` present (the paper's DirectBias_c)."""
    words = list(words)
    rows = [vectors.index[w] for w in words if w in vectors]
    if not rows:
        raise ValueError(f"none of the {len(words)} gender-neutral words ({', '.join(words[:5])}, ...) has a vector: "
                         "the direct bias needs some of them in the vocabulary")
    return float(np.mean(np.abs(vectors.unit[rows] @ direction) ** c))


def extreme_words(vectors: Vectors, words: Iterable[str], direction: np.ndarray, k: int = 10) -> tuple[list, list]:
    """``(most positive, most negative)``: the ``k`` present words with the largest and the
    smallest projection on the direction (with ``gender_direction``: the extreme "she" and "he" words)."""
    present = [w for w in words if w in vectors]
    projections = vectors.unit[[vectors.index[w] for w in present]] @ direction
    order = np.argsort(-projections)
    return ([(present[i], float(projections[i])) for i in order[:k]], [(present[i], float(projections[i])) for i in order[::-1][:k]])


def _without(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    return x - (x @ g)[..., None] * g


def hard_debias(vectors: Vectors, definitional: Sequence[tuple[str, str]] = DEFINITIONAL, *, specific: Iterable[str] = GENDER_SPECIFIC,
                equalize: Sequence[tuple[str, str]] = EQUALIZE, direction: np.ndarray | None = None) -> Vectors:
    """Neutralise every word outside ``specific``, then equalise each pair of ``equalize`` (both
    words present); returns unit vectors (the paper works on normalised embeddings)."""
    g = gender_direction(vectors, definitional) if direction is None else direction / np.linalg.norm(direction)
    keep = set(specific)
    matrix = vectors.unit.copy()
    neutral = np.array([w not in keep for w in vectors.words])
    matrix[neutral] = unit(_without(matrix[neutral], g))
    for a, b in equalize:
        if a not in vectors or b not in vectors:
            continue
        i, j = vectors.index[a], vectors.index[b]
        nu = _without((matrix[i] + matrix[j]) / 2, g)
        z = np.sqrt(max(1.0 - float(nu @ nu), 0.0)) * (1.0 if (matrix[i] - matrix[j]) @ g >= 0 else -1.0)
        matrix[i], matrix[j] = nu + z * g, nu - z * g
    return Vectors(vectors.words, matrix)
