"""How text becomes tokens and tokens become text again, written as data.

A ``Tokenizer`` is a few plain fields: a regular expression whose every match is a token, what is
done to the text first (lowercasing, one space for every run of whitespace), how many tokens are
kept, and how tokens are written back (a separator, then regular-expression rewrites: the
detokeniser). Being data, it is saved with a model (``seqjax.save_model``) and comes back with it,
so that a loaded model reads and writes raw text with no code of the experiment that trained it::

    words = Tokenizer.word()                         # lowercased words and punctuation marks
    words("Don't stop!")                             # ["don't", "stop", "!"]
    chars = Tokenizer.char()                         # every character, joined with nothing
    cased = Tokenizer(lower=False, rules=DETOKENIZE) # case kept; "T - shirt ." written "T-shirt."
    cased.render(["A", "T", "-", "shirt", "."])      # "A T-shirt."

A ``Vocab`` holds one (its ``level``: "word", "char" or a ``Tokenizer``): ``vocab.encode(text)``
splits with it and ``vocab.decode(ids)`` renders with it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

WORD_PATTERN = r"\w+(?:'\w+)?|[^\w\s]"  # words (with inner apostrophes: don't) and single punctuation marks
CHAR_PATTERN = r"(?s)."                 # every character, newlines included
SPACE_PATTERN = r"\S+"                  # whatever lies between spaces (text that is tokenised already)

# Writing word tokens back as text: hyphenated words joined ("T - shirt" -> "T-shirt"), no space
# before closing punctuation or after an opening bracket.
DETOKENIZE = ((r"(\w) - (?=\w)", r"\1-"), (r" ([.,!?;:%)\]}])", r"\1"), (r"([(\[{$]) ", r"\1"))


@dataclasses.dataclass(frozen=True)
class Tokenizer:
    """Text -> tokens (``__call__``) and tokens -> text (``render``); see the module doc.

    ``pattern``: every match is a token (``re.findall``; groups are not allowed, so a match is the
    whole token). ``lower``: lowercase first. ``squeeze_space``: every run of whitespace reads as
    one space, and the ends are stripped. ``max_tokens``: keep the first so many (None: all).
    ``join``: written between tokens. ``rules``: ``(pattern, replacement)`` pairs applied in order
    to the joined text by ``re.sub``."""

    pattern: str = WORD_PATTERN
    lower: bool = False
    squeeze_space: bool = False
    max_tokens: int | None = None
    join: str = " "
    rules: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        try:
            compiled = re.compile(self.pattern)
        except (re.error, TypeError) as error:
            raise ValueError(f"Tokenizer.pattern must be a regular expression, got {self.pattern!r}: {error}") from None
        if compiled.groups:
            raise ValueError(f"Tokenizer.pattern must have no capturing groups (a match is a token; use (?:...)), got {self.pattern!r}")
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1):
            raise ValueError(f"Tokenizer.max_tokens must be a positive int or None, got {self.max_tokens!r}")
        if not isinstance(self.join, str):
            raise ValueError(f"Tokenizer.join must be a string, got {self.join!r}")
        rules = tuple(tuple(rule) for rule in self.rules)
        for i, rule in enumerate(rules):
            if len(rule) != 2 or not all(isinstance(part, str) for part in rule):
                raise ValueError(f"Tokenizer.rules[{i}] must be a (pattern, replacement) pair of strings, got {rule!r}")
            try:
                re.compile(rule[0])
            except re.error as error:
                raise ValueError(f"Tokenizer.rules[{i}]: {rule[0]!r} is not a regular expression: {error}") from None
        object.__setattr__(self, "rules", rules)  # lists (from JSON) become tuples: hashable and equal to the original
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def word(cls, lower: bool = True, **fields) -> "Tokenizer":
        """Words (with inner apostrophes) and single punctuation marks, lowercased by default."""
        return cls(WORD_PATTERN, lower=lower, **fields)

    @classmethod
    def char(cls, **fields) -> "Tokenizer":
        """Every character is a token (spaces and newlines included), written back with nothing between."""
        return cls(CHAR_PATTERN, join="", **fields)

    def __call__(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(f"a Tokenizer reads a str, got {type(text).__name__}")
        if self.squeeze_space:
            text = " ".join(text.split())
        if self.lower:
            text = text.lower()
        tokens = self._compiled.findall(text)
        return tokens if self.max_tokens is None else tokens[: self.max_tokens]

    def render(self, tokens: Sequence[str]) -> str:
        """Tokens as text: joined by ``join``, then rewritten by ``rules``."""
        text = self.join.join(tokens)
        for pattern, replacement in self.rules:
            text = re.sub(pattern, replacement, text)
        return text


LEVELS = {"word": Tokenizer.word(), "char": Tokenizer.char()}
