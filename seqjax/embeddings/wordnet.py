"""WordNet 3.0 synonyms for retrofitting, read from the database's own data files.

Debian's ``wordnet-base`` package installs the database in ``/usr/share/wordnet`` (``apt-get install
wordnet-base``, or ``apt-get download wordnet-base && dpkg -x wordnet-base_*.deb <dir>`` without
root); Princeton's WordNet-3.0 tarball has the same files in ``dict/``. Each of ``data.noun``,
``data.verb``, ``data.adj`` and ``data.adv`` holds one synset per line (wndb(5)):

    offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt [pointers ...] | gloss

with ``w_cnt`` in hexadecimal, multi-word lemmas joined by ``_`` and adjectives possibly marked
``(a)``, ``(p)`` or ``(ip)``; lines that begin with two spaces are the licence. The words of one
synset are synonyms, the graph of Faruqui et al.'s "WN_syn" lexicon:

    pairs = wordnet_pairs()                                  # ("able", "capable"), ... in both directions
    edges, unknown = retrofit.edges_from_pairs(vectors, pairs)
    new = retrofit.retrofit(vectors, edges)

A line that does not follow the format is a ``DataFormatError`` naming the file and line. (nltk's
``WordNetCorpusReader`` reads the same files, but its path sandbox refuses folders outside its own
data directories, so this reader is the few lines the format needs.)
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Iterator

from seqjax.data.files import DataFormatError

PARTS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
_MARKER = re.compile(r"\((a|p|ip)\)$")


def wordnet_dir(path: str | os.PathLike | None = None) -> pathlib.Path:
    """The folder of the data files: ``path``, else ``$WNHOME/dict``, else ``/usr/share/wordnet``."""
    candidates = [pathlib.Path(path)] if path is not None else (
        [pathlib.Path(os.environ["WNHOME"]) / "dict"] if os.environ.get("WNHOME") else []) + [pathlib.Path("/usr/share/wordnet")]
    for folder in candidates:
        if (folder / "data.noun").is_file():
            return folder
    raise FileNotFoundError(f"no WordNet database (data.noun) in {', '.join(map(str, candidates))}: install Debian's wordnet-base "
                            "(apt-get install wordnet-base) or pass the folder of WordNet 3.0's dict files")


def synsets(path: str | os.PathLike | None = None, *, parts: tuple[str, ...] = tuple(PARTS), lower: bool = True
            ) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """``(part, offset, words)`` for every synset of the ``parts`` (noun, verb, adj, adv), words in file order."""
    folder = wordnet_dir(path)
    for part in parts:
        if part not in PARTS:
            raise ValueError(f"parts must be among {tuple(PARTS)}, got {part!r}")
        file = folder / f"data.{part}"
        with open(file, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.startswith("  ") or not line.strip():
                    continue
                fields = line.split(" | ", 1)[0].split()
                try:
                    count = int(fields[3], 16)
                    words = fields[4: 4 + 2 * count: 2]
                    if len(words) != count or count == 0:
                        raise ValueError
                except (IndexError, ValueError):
                    raise DataFormatError(file, number, "not a WordNet data line (offset lex_filenum ss_type w_cnt word lex_id ...)") from None
                words = tuple(_MARKER.sub("", w).lower() if lower else _MARKER.sub("", w) for w in words)
                yield part, fields[0], words


def wordnet_pairs(path: str | os.PathLike | None = None, *, parts: tuple[str, ...] = tuple(PARTS),
                  lower: bool = True) -> Iterator[tuple[str, str]]:
    """Every ordered pair of distinct words that share a synset (the synonym graph, both directions)."""
    for _, _, words in synsets(path, parts=parts, lower=lower):
        distinct = list(dict.fromkeys(words))
        for a in distinct:
            for b in distinct:
                if a != b:
                    yield a, b
