"""Number phrases (experiments.number_phrases): a table of spellings written by hand from the rules, and a
parser written here from scratch that reads every spelling of random numbers back."""

import numpy as np
import pytest

from experiments import number_phrases as numbers

ENGLISH = {
    0: "zero", 13: "thirteen", 21: "twenty-one", 40: "forty", 105: "one hundred five", 1000: "one thousand",
    1005: "one thousand five", 90017: "ninety thousand seventeen",
    123456: "one hundred twenty-three thousand four hundred fifty-six", 999999: "nine hundred ninety-nine thousand nine hundred ninety-nine",
}
BRITISH = {105: "one hundred and five", 2005: "two thousand and five", 123456: "one hundred and twenty-three thousand, four hundred and fifty-six"}
FRENCH = {
    0: "zéro", 1: "un", 16: "seize", 17: "dix-sept", 21: "vingt et un", 22: "vingt-deux", 31: "trente et un", 70: "soixante-dix",
    71: "soixante et onze", 77: "soixante-dix-sept", 80: "quatre-vingts", 81: "quatre-vingt-un", 91: "quatre-vingt-onze",
    99: "quatre-vingt-dix-neuf", 100: "cent", 101: "cent un", 200: "deux cents", 240: "deux cent quarante",
    280: "deux cent quatre-vingts", 1000: "mille", 1001: "mille un", 2000: "deux mille", 21000: "vingt et un mille",
    80000: "quatre-vingt mille", 200000: "deux cent mille", 412: "quatre cent douze",
    380080: "trois cent quatre-vingt mille quatre-vingts",
}
REFORM = {21: "vingt-et-un", 240: "deux-cent-quarante", 2000: "deux-mille", 200000: "deux-cent-mille", 71: "soixante-et-onze"}


def test_spellings_written_by_hand():
    for n, text in ENGLISH.items():
        assert numbers.english(n) == text
    for n, text in BRITISH.items():
        assert numbers.english(n, style="british", comma=True) == text
    assert numbers.english(23, hyphen=False) == "twenty three"
    for n, text in FRENCH.items():
        assert numbers.french(n) == text
    for n, text in REFORM.items():
        assert numbers.french(n, reform=True) == text


VALUES = {"zero": 0, "zéro": 0, "one": 1, "un": 1, "two": 2, "deux": 2, "three": 3, "trois": 3, "four": 4, "quatre": 4,
          "five": 5, "cinq": 5, "six": 6, "seven": 7, "sept": 7, "eight": 8, "huit": 8, "nine": 9, "neuf": 9, "ten": 10,
          "dix": 10, "eleven": 11, "onze": 11, "twelve": 12, "douze": 12, "thirteen": 13, "treize": 13, "fourteen": 14,
          "quatorze": 14, "fifteen": 15, "quinze": 15, "sixteen": 16, "seize": 16, "seventeen": 17, "eighteen": 18,
          "nineteen": 19, "twenty": 20, "vingt": 20, "thirty": 30, "trente": 30, "forty": 40, "quarante": 40, "fifty": 50,
          "cinquante": 50, "sixty": 60, "soixante": 60, "seventy": 70, "eighty": 80, "ninety": 90}


def parse(text):
    """Words -> number, from the arithmetic of the words: add units and tens, multiply by hundred/cent and
    thousand/mille, "quatre vingt" is 4 x 20; "and" and "et" add nothing."""
    total, current, previous = 0, 0, None
    for word in numbers.phrase_tokens(text):
        if word in ("and", "et"):
            continue
        if word in ("vingt", "vingts") and previous == "quatre":
            current += 80 - 4
        elif word in ("hundred", "cent", "cents"):
            current = max(current, 1) * 100  # "cent" alone is 100, "deux cents" 200
        elif word in ("thousand", "mille"):
            total, current = total + max(current, 1) * 1000, 0
        else:
            current += VALUES[word]
        previous = word
    return total + current


def test_every_spelling_of_random_numbers_reads_back():
    rng = np.random.default_rng(0)
    values = np.concatenate([numbers.sample_numbers(rng, 1500), [0, 80, 100, 1000, 80000, 999999]])
    canonical = {}
    for n in map(int, values):
        for language in ("en", "fr"):
            variants = numbers.spellings(n, language)
            for text in variants:
                assert parse(text) == n, (n, text)
            assert numbers.spelling(n, language, rng) in variants
            assert canonical.setdefault((language, numbers.canonical(n, language)), n) == n  # no two numbers share one


def test_tokens_and_sampling():
    assert numbers.phrase_tokens("Quatre-vingt-dix-sept mille, deux cents") == ["quatre", "vingt", "dix", "sept", "mille", "deux", "cents"]
    assert numbers.digit_tokens("240 000") == list("240000") and numbers.digit_tokens("240,000") == list("240000")
    assert numbers.digit_tokens("deux") is None and numbers.digit_tokens("") is None
    lengths = np.array([len(str(n)) for n in numbers.sample_numbers(np.random.default_rng(1), 6000)])
    assert set(lengths) == {1, 2, 3, 4, 5, 6} and all(800 < np.sum(lengths == d) < 1200 for d in range(1, 7))
    with pytest.raises(ValueError, match=r"n must be an int in \[0, 1,000,000\)"):
        numbers.english(1_000_000)
    with pytest.raises(ValueError, match="language must be 'en' or 'fr'"):
        numbers.spellings(3, "de")
