"""Loaders of the real datasets of the course, each a function of an optional ``path``.

``path`` may be the file itself or a data folder with the layout of ``../shared/data``;
without it, the file is found as ``seqjax.data.files.locate`` describes (data dir,
cache, checked download). A malformed file raises ``DataFormatError`` naming the file
and the line.

    text = tiny_shakespeare()                        # str, 1,115,394 characters
    pairs = mr()                                     # [(sentence, label)], label 1 = positive
    pairs = multi30k("train")                        # [(german, english)]
    questions = analogies()                          # {section: [(a, b, c, d)]}: a is to b as c is to d
    triples = word_similarity("simlex999")           # [(word1, word2, score)]
    words, vectors = glove("glove/glove.6B.50d.subset.txt")
    rows = dbpedia("train", path=...)                # [(label 0..13, title, content)]
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import pathlib
import zlib

import numpy as np

from seqjax.data.files import DataFormatError, locate

PathLike = str | os.PathLike | None


def _lines(file: pathlib.Path, encoding: str = "utf-8") -> list[str]:
    """The file's lines (gzip if it ends in .gz), decoded line by line so errors name the line."""
    try:
        raw = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataFormatError(file, None, f"not a readable {'gzip ' if file.suffix == '.gz' else ''}file ({error})") from None
    lines = []
    for number, line in enumerate(raw.splitlines(), 1):
        try:
            lines.append(line.decode(encoding))
        except UnicodeDecodeError as error:
            raise DataFormatError(file, number, f"cannot decode byte {line[error.start:error.start + 1]!r} as {encoding}") from None
    return lines


def tiny_shakespeare(path: PathLike = None) -> str:
    """Karpathy's tiny Shakespeare: 40,000 lines of plays as one string (for char-level models)."""
    file = locate("tinyshakespeare/input.txt", path)
    text = "\n".join(_lines(file, "utf-8"))
    if not text.strip():
        raise DataFormatError(file, None, "the file is empty")
    return text + "\n"


def mr(path: PathLike = None) -> list[tuple[str, int]]:
    """MR sentence polarity (Pang & Lee 2005): 5,331 positive (label 1) then 5,331 negative (label 0).

    The files are Windows-1252, lowercased and tokenized; trailing spaces are stripped.
    ``path`` is a data folder holding ``mr/rt-polarity.{pos,neg}`` or the folder of the two files.
    """
    out = []
    for suffix, label in (("pos", 1), ("neg", 0)):
        relpath = f"mr/rt-polarity.{suffix}"
        where = path if path is None or not (pathlib.Path(path) / f"rt-polarity.{suffix}").is_file() else pathlib.Path(path) / f"rt-polarity.{suffix}"
        file = locate(relpath, where)
        for number, line in enumerate(_lines(file, "cp1252"), 1):
            if not line.strip():
                raise DataFormatError(file, number, "empty line; expected one sentence per line")
            out.append((line.strip(), label))
    return out


def multi30k(split: str = "train", path: PathLike = None, *, source: str = "de", target: str = "en") -> list[tuple[str, str]]:
    """Multi30k task 1 (Elliott et al. 2016): line-aligned ``(source, target)`` sentence pairs.

    ``split`` is "train" (29,000), "val" (1,014) or "test_2016_flickr" (1,000).
    """
    splits = ("train", "val", "test_2016_flickr")
    if split not in splits:
        raise ValueError(f"split must be one of {splits}, got {split!r}")
    sides = []
    for language in (source, target):
        name = f"{split}.{language}.gz"
        where = path if path is None or not (pathlib.Path(path) / name).is_file() else pathlib.Path(path) / name
        file = locate(f"multi30k/{name}", where)
        lines = _lines(file, "utf-8")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                raise DataFormatError(file, number, "empty line; expected one sentence per line")
        sides.append((file, lines))
    (src_file, src), (tgt_file, tgt) = sides
    if len(src) != len(tgt):
        raise DataFormatError(tgt_file, None, f"has {len(tgt)} lines but {src_file} has {len(src)}; the sides must be line-aligned")
    return [(s.strip(), t.strip()) for s, t in zip(src, tgt)]


def analogies(path: PathLike = None) -> dict[str, list[tuple[str, str, str, str]]]:
    """Mikolov's word-analogy questions: ``{section: [(a, b, c, d), ...]}``, lowercased."""
    file = locate("analogy/questions-words.txt", path)
    sections: dict[str, list] = {}
    current = None
    for number, line in enumerate(_lines(file), 1):
        if not line.strip():
            continue
        if line.startswith(":"):
            current = line[1:].strip()
            sections.setdefault(current, [])
            continue
        words = line.split()
        if current is None:
            raise DataFormatError(file, number, "question before the first ': section' header")
        if len(words) != 4:
            raise DataFormatError(file, number, f"expected 4 words (a b c d), got {len(words)}: {line.strip()!r}")
        sections[current].append(tuple(w.lower() for w in words))
    if not sections:
        raise DataFormatError(file, None, "no ': section' headers; not a word-analogy file")
    return sections


def word_similarity(name: str = "wordsim353", path: PathLike = None) -> list[tuple[str, str, float]]:
    """WordSim-353 or SimLex-999 (gensim's 3-column copies): ``[(word1, word2, score 0-10)]``."""
    names = {"wordsim353": "wordsim/wordsim353.tsv", "simlex999": "wordsim/simlex999.txt"}
    if name not in names:
        raise ValueError(f"name must be one of {sorted(names)}, got {name!r}")
    file = locate(names[name], path)
    out = []
    for number, line in enumerate(_lines(file), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) < 3:
            raise DataFormatError(file, number, f"expected word1, word2, score; got {line.strip()!r}")
        try:
            score = float(fields[2])
        except ValueError:
            raise DataFormatError(file, number, f"score {fields[2]!r} is not a number") from None
        out.append((fields[0].strip().lower(), fields[1].strip().lower(), score))
    return out


def glove(name_or_path: str | os.PathLike = "glove/glove.6B.50d.subset.txt", *, limit: int | None = None,
          path: PathLike = None) -> tuple[list[str], np.ndarray]:
    """GloVe text vectors (``word v1 ... vd`` per line; plain or .gz; a word2vec "count dim"
    header line is skipped): ``(words, vectors [n, d] float32)``, at most ``limit`` rows.

    ``name_or_path`` is a file, or a relative name such as "glove/glove.6B.100d.txt" found
    in the data folders.
    """
    candidate = pathlib.Path(name_or_path)
    file = candidate if candidate.is_file() else locate(str(name_or_path), path)
    words, rows, dim = [], [], None
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if limit is not None and len(words) >= limit:
                    break
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec-style header
                if len(parts) < 2:
                    raise DataFormatError(file, number, "expected a word followed by its vector")
                if dim is None:
                    dim = len(parts) - 1
                elif len(parts) - 1 != dim:
                    raise DataFormatError(file, number, f"vector has {len(parts) - 1} values, earlier lines have {dim}")
                try:
                    rows.append(np.asarray(parts[1:], np.float32))
                except ValueError:
                    raise DataFormatError(file, number, "vector values are not all numbers") from None
                words.append(parts[0])
    except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DataFormatError(file, None, f"not a readable GloVe text file ({error})") from None
    if not words:
        raise DataFormatError(file, None, "no vectors found")
    return words, np.stack(rows)


def dbpedia(split: str = "train", path: PathLike = None) -> list[tuple[int, str, str]]:
    """DBpedia ontology classification (Zhang et al. 2015), CSV rows ``class,title,content``.

    Returns ``[(label, title, content)]`` with labels 0..13 (the file's classes are 1..14;
    ``../shared/data/dbpedia/classes.txt`` names them).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    file = locate(f"dbpedia/{split}.csv", path)
    text = "\n".join(_lines(file)) + "\n"
    out = []
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        number = reader.line_num
        if not row:
            continue
        if len(row) != 3:
            raise DataFormatError(file, number, f"expected 3 fields (class,title,content), got {len(row)}")
        try:
            label = int(row[0])
        except ValueError:
            raise DataFormatError(file, number, f"class {row[0]!r} is not an integer") from None
        if not 1 <= label <= 14:
            raise DataFormatError(file, number, f"class {label} is outside 1..14")
        out.append((label - 1, row[1], row[2].strip()))
    return out


def dbpedia_classes() -> list[str]:
    """The 14 DBpedia class names, by label."""
    return ["Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation", "Building",
            "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork"]
