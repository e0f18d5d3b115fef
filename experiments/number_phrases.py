"""Numbers written in words, in English and French, 0 to 999,999: the lectures' numeric-phrase lab.

    english(240)                                  "two hundred forty"
    english(123456, style="british")              "one hundred and twenty-three thousand, four hundred and fifty-six"
    french(240)                                   "deux cent quarante"
    french(71)                                    "soixante et onze"
    french(280000, reform=True)                   "deux-cent-quatre-vingt-mille"
    spellings(21, "fr")                           {"vingt et un", "vingt-et-un"}

Spellings people write, all accepted as inputs (``spelling(n, language, rng)`` draws one):

  English  with or without "and" after hundreds (British / American), hyphens in 21-99 or
           spaces ("twenty-three", "twenty three"), a comma after the thousands or not (before
           a last part of at least a hundred: "one thousand, two hundred", "two thousand and five");
  French   traditional orthography (hyphens only inside the tens and units below 100, "et" in
           21, 31, ..., 71: "vingt et un", "soixante et onze") or the 1990 reform (hyphens
           between every numeral word: "vingt-et-un", "deux-cent-quarante"). Both follow the
           plural rules: "quatre-vingts" and "deux cents" take an s when they end the number
           (not before "mille": "quatre-vingt mille", "deux cent mille"); "mille" never does.

The canonical outputs (what a model is asked to write): English without "and", with hyphens
and no comma (``english(n)``); French in the traditional orthography (``french(n)``).
``phrase_tokens`` splits a phrase into words (hyphens and commas are separators, case and
accents kept as written), which is how models read these phrases.
"""

from __future__ import annotations

import re

import numpy as np

LIMIT = 1_000_000
_EN_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
             "sixteen seventeen eighteen nineteen").split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_FR_UNITS = ("zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize "
             "dix-sept dix-huit dix-neuf").split()
_FR_TENS = "_ _ vingt trente quarante cinquante soixante".split()


def _check(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or not 0 <= n < LIMIT:
        raise ValueError(f"n must be an int in [0, {LIMIT:,}), got {n!r}")


# --- English ----------------------------------------------------------------------------------


def _en_below_100(n: int, hyphen: bool) -> str:
    if n < 20:
        return _EN_UNITS[n]
    tens, units = divmod(n, 10)
    return _EN_TENS[tens] + ("" if units == 0 else ("-" if hyphen else " ") + _EN_UNITS[units])


def _en_below_1000(n: int, british: bool, hyphen: bool) -> str:
    hundreds, rest = divmod(n, 100)
    if hundreds == 0:
        return _en_below_100(rest, hyphen)
    head = f"{_EN_UNITS[hundreds]} hundred"
    if rest == 0:
        return head
    return f"{head} {'and ' if british else ''}{_en_below_100(rest, hyphen)}"


def english(n: int, *, style: str = "american", hyphen: bool = True, comma: bool = False) -> str:
    """``n`` in English words; ``style`` "american" (no "and") or "british" ("and" after hundreds,
    and before a last part below 100: "two thousand and five")."""
    _check(n)
    british = style == "british"
    if n < 1000:
        return _en_below_1000(n, british, hyphen)
    thousands, rest = divmod(n, 1000)
    head = f"{_en_below_1000(thousands, british, hyphen)} thousand"
    if rest == 0:
        return head
    if rest < 100:  # "two thousand and five" (British), "two thousand five": no comma before a last part below 100
        return f"{head} {'and ' if british else ''}{_en_below_100(rest, hyphen)}"
    return f"{head}{', ' if comma else ' '}{_en_below_1000(rest, british, hyphen)}"


# --- French -----------------------------------------------------------------------------------


def _fr_below_100(n: int, final: bool) -> list[str]:
    """Words of ``n < 100`` as hyphen-joinable parts; ``final``: nothing follows (plural of quatre-vingts)."""
    if n < 17:
        return [_FR_UNITS[n]]
    if n < 20:
        return ["dix", _FR_UNITS[n - 10]]
    tens, units = divmod(n, 10)
    if tens in (7, 9):  # soixante-dix.., quatre-vingt-dix..: the tens of the decade below plus 10..19
        base = ["soixante"] if tens == 7 else ["quatre", "vingt"]
        rest = _fr_below_100(10 + units, final)
        return base + (["et"] if tens == 7 and units == 1 else []) + rest
    if tens == 8:
        return ["quatre", "vingts" if units == 0 and final else "vingt"] + ([] if units == 0 else _fr_below_100(units, final))
    words = [_FR_TENS[tens]]
    if units == 1:
        return words + ["et", "un"]
    return words + ([] if units == 0 else [_FR_UNITS[units]])


def _fr_below_1000(n: int, final: bool) -> list[list[str]]:
    """Groups of words: the hundreds group and the below-100 group (hyphenated inside in both orthographies)."""
    hundreds, rest = divmod(n, 100)
    groups = []
    if hundreds:
        cent = "cents" if hundreds > 1 and rest == 0 and final else "cent"
        groups.append(([] if hundreds == 1 else [_FR_UNITS[hundreds]]) + [cent])
    if rest or not hundreds:
        groups.append(_fr_below_100(rest, final))
    return groups


def _fr_groups(n: int) -> list[list[str]]:
    thousands, rest = divmod(n, 1000)
    if thousands == 0:
        return _fr_below_1000(n, final=True)
    head = [] if thousands == 1 else _fr_below_1000(thousands, final=False)
    return head + [["mille"]] + (_fr_below_1000(rest, final=True) if rest else [])


def french(n: int, *, reform: bool = False) -> str:
    """``n`` in French words, traditional orthography or the 1990 reform's hyphens."""
    _check(n)
    groups = _fr_groups(n)
    if reform:
        return "-".join(word for group in groups for word in group)
    return " ".join(_fr_traditional(group) for group in groups)


def _fr_traditional(group: list[str]) -> str:
    """Traditional hyphens: between the words of a number below 100, except around "et";
    "cent" stands apart from the units that multiply it ("deux cents")."""
    if group[-1] in ("cent", "cents"):
        return " ".join(group)
    out = group[0]
    for previous, word in zip(group, group[1:]):
        out += (" " if "et" in (previous, word) else "-") + word
    return out


# --- spellings --------------------------------------------------------------------------------


def spellings(n: int, language: str) -> set[str]:
    """Every spelling of ``n`` this module accepts in ``language`` ("en" or "fr")."""
    if language == "en":
        return {english(n, style=s, hyphen=h, comma=c) for s in ("american", "british") for h in (True, False) for c in (True, False)}
    if language == "fr":
        return {french(n), french(n, reform=True)}
    raise ValueError(f"language must be 'en' or 'fr', got {language!r}")


def spelling(n: int, language: str, rng: np.random.Generator) -> str:
    """One spelling of ``n`` in ``language``, drawn uniformly from the variants people write."""
    if language == "en":
        return english(n, style=("american", "british")[rng.integers(2)], hyphen=bool(rng.integers(2)), comma=bool(rng.integers(2)))
    if language == "fr":
        return french(n, reform=bool(rng.integers(2)))
    raise ValueError(f"language must be 'en' or 'fr', got {language!r}")


def canonical(n: int, language: str) -> str:
    """The spelling a model is asked to write: American English with hyphens, traditional French."""
    return english(n) if language == "en" else french(n)


_SPLIT = re.compile(r"[\s,\-]+")


def phrase_tokens(text: str) -> list[str]:
    """Words of a number phrase: lowercased, split at spaces, hyphens and commas."""
    return [w for w in _SPLIT.split(text.strip().lower()) if w]


def digit_tokens(text: str) -> list[str] | None:
    """The digits of ``text`` ("240", "240,000", "240 000") as tokens, or None if it is not a number."""
    stripped = re.sub(r"[\s,.'’_]", "", text)
    return list(stripped) if stripped.isdigit() else None


def sample_numbers(rng: np.random.Generator, size: int) -> np.ndarray:
    """Numbers with a uniformly drawn count of digits (1 to 6), then uniform among those: small
    numbers are as common as large ones (a uniform draw over 0..999,999 gives 90% six-digit ones)."""
    digits = rng.integers(1, 7, size)
    low = np.where(digits == 1, 0, 10 ** (digits - 1))
    return rng.integers(low, 10 ** digits)
