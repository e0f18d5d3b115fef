"""Loaders of the real datasets of the course, each a function of an optional ``path``.

``path`` may be the file itself or a data folder with the layout of ``../shared/data``;
without it, the file is found as ``seqjax.data.files.locate`` describes (data dir,
cache, checked download). A malformed file raises ``DataFormatError`` naming the file
and the line.

    text = tiny_shakespeare()                        # str, 1,115,394 characters
    pairs = mr()                                     # [(sentence, label)], label 1 = positive
    pairs = multi30k("train")                        # [(german, english)]
    documents = lee()                                # 300 news documents (the Lee background corpus)
    questions = analogies()                          # {section: [(a, b, c, d)]}: a is to b as c is to d
    triples = word_similarity("simlex999")           # [(word1, word2, score)]
    words, vectors = glove("glove/glove.6B.50d.subset.txt")
    rows = dbpedia("train", path=...)                # [(label 0..13, title, content)]
    rows, classes = labelled_csv("reviews.csv", ("label", "text"))   # any CSV of labelled texts
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import pathlib
import warnings
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
    if not raw.strip():
        raise DataFormatError(file, None, "the file is empty")
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


def lee(path: PathLike = None) -> list[str]:
    """The Lee background corpus (Lee, Pincombe & Welsh 2005; gensim's copy): 300 news documents, one per line."""
    file = locate("corpora/lee_background.cor", path)
    documents = [line.strip() for line in _lines(file, "utf-8")]
    for number, document in enumerate(documents, 1):
        if not document:
            raise DataFormatError(file, number, "empty line; expected one document per line")
    return documents


def analogies(path: PathLike = None, *, lower: bool = True) -> dict[str, list[tuple[str, str, str, str]]]:
    """Mikolov's word-analogy questions: ``{section: [(a, b, c, d), ...]}``, lowercased unless
    ``lower=False`` (as written: what gensim's case-sensitive evaluation reads)."""
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
        sections[current].append(tuple(w.lower() if lower else w for w in words))
    if not sections:
        raise DataFormatError(file, None, "no ': section' headers; not a word-analogy file")
    return sections


def word_similarity(name: str = "wordsim353", path: PathLike = None, *, lower: bool = True) -> list[tuple[str, str, float]]:
    """WordSim-353 or SimLex-999 (gensim's 3-column copies): ``[(word1, word2, score 0-10)]``,
    lowercased unless ``lower=False``."""
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
        first, second = fields[0].strip(), fields[1].strip()
        out.append((first.lower(), second.lower(), score) if lower else (first, second, score))
    if not out:
        raise DataFormatError(file, None, "no word pairs (only comments and blank lines)")
    return out


def glove(name_or_path: str | os.PathLike = "glove/glove.6B.50d.subset.txt", *, limit: int | None = None,
          path: PathLike = None) -> tuple[list[str], np.ndarray]:
    """GloVe text vectors (``word v1 ... vd`` per line; plain or .gz; a file with a word2vec
    "count dim" header is read as word2vec text): ``(words, vectors [n, d] float32)``, at most
    ``limit`` rows. The parsing and its errors are ``seqjax.data.vector_files.read_vectors``'
    (``seqjax.embeddings.read_vectors``).

    ``name_or_path`` is a file, or a relative name such as "glove/glove.6B.100d.txt" found
    in the data folders.
    """
    from seqjax.data.vector_files import read_vectors

    candidate = pathlib.Path(name_or_path)
    file = candidate if candidate.is_file() else locate(str(name_or_path), path)
    return read_vectors(file, limit=limit)


def dbpedia(split: str = "train", path: PathLike = None) -> list[tuple[int, str, str]]:
    """DBpedia ontology classification (Zhang et al. 2015), CSV rows ``class,title,content``.

    Returns ``[(label, title, content)]`` with labels 0..13 (the file's classes are 1..14;
    ``../shared/data/dbpedia/classes.txt`` names them).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    file = locate(f"dbpedia/{split}.csv", path)
    rows, _ = labelled_texts(file, ("label", "text", "text"), classes=dbpedia_classes(), join=None)
    return [(label, title, content.strip()) for (title, content), label in rows]


def labelled_csv(file: str | os.PathLike, columns: tuple[str, ...] = ("label", "text"), **options) -> tuple[list[tuple[int, object]], list[str]]:
    """``labelled_texts`` in the order of earlier releases, ``([(label, text)], classes)`` (one release, with a
    DeprecationWarning: examples are ``(text, label)`` everywhere else, as ``encode_labelled(texts, labels)``)."""
    warnings.warn("datasets.labelled_csv is now datasets.labelled_texts, which returns (text, label) rows (inputs first, "
                  "as every dataset of seqjax.data)", DeprecationWarning, stacklevel=2)
    rows, classes = labelled_texts(file, columns, **options)
    return [(label, text) for text, label in rows], classes


def labelled_texts(file: str | os.PathLike, columns: tuple[str, ...] = ("label", "text"), *, classes: list[str] | None = None,
                   header: bool = False, join: str | None = " ") -> tuple[list[tuple[object, int]], list[str]]:
    """Rows of a CSV of labelled texts: ``([(text, label index)], class names)``.

    ``columns`` names each column's role: "label" (exactly one), "text" (one or more; joined by
    ``join``, or kept as a tuple when ``join`` is None) or "-" (ignored); DBpedia's files are
    ``("label", "text", "text")``. With ``classes`` (e.g. the lines of a classes.txt), a label is a
    class name or a 1-based class number (as in Zhang et al.'s CSVs); without it, the classes are
    the distinct labels of the file, sorted (numerically when all are integers). A row with
    another number of fields, an unknown label or no text is a ``DataFormatError`` naming the
    file and the line where the row starts.
    """
    file = pathlib.Path(file)
    roles = tuple(columns)
    if roles.count("label") != 1 or "text" not in roles or any(r not in ("label", "text", "-") for r in roles):
        raise ValueError(f"columns must name one 'label', at least one 'text' and any number of '-' columns, got {columns!r}")
    # strict: a quoted field left open (a file cut mid-row) or a stray quote is an error, not a row
    reader = csv.reader(io.StringIO("\n".join(_lines(file)) + "\n"), strict=True)
    raw, line = [], 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1
            if not row or (header and not raw and start == 1):
                continue
            if len(row) != len(roles):
                raise DataFormatError(file, start, f"expected {len(roles)} fields ({','.join(roles)}), got {len(row)}")
            texts = tuple(field for field, role in zip(row, roles) if role == "text")
            if not any(t.strip() for t in texts):
                raise DataFormatError(file, start, "the text is empty")
            raw.append((start, row[roles.index("label")].strip(), texts))
    except csv.Error as error:
        raise DataFormatError(file, line, f"unreadable CSV row ({error})") from None
    if not raw:
        raise DataFormatError(file, None, "no rows")
    if classes is None:
        names = sorted({label for _, label, _ in raw})
        classes = sorted(names, key=int) if all(n.lstrip("-").isdigit() for n in names) else names
    index = {name: i for i, name in enumerate(classes)}
    out = []
    for number, label, texts in raw:
        i = index.get(label)
        if i is None and label.isdigit() and 1 <= int(label) <= len(classes):
            i = int(label) - 1
        if i is None:
            raise DataFormatError(file, number, f"label {label!r} is not one of the {len(classes)} classes "
                                                f"(names, or numbers 1..{len(classes)}): {', '.join(classes[:14])}"
                                                f"{' ...' if len(classes) > 14 else ''}")
        out.append((texts if join is None else join.join(t.strip() for t in texts if t.strip()), i))
    return out, list(classes)


def dbpedia_classes() -> list[str]:
    """The 14 DBpedia class names, by label."""
    return ["Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation", "Building",
            "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork"]
