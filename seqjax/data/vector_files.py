"""Word-vector files: GloVe text, word2vec text and word2vec binary, plain or gzip.

    glove          word v_1 ... v_d                       one line per word, no header (Pennington et al.)
    word2vec       "count dim" header line, then as GloVe  (word2vec's -binary 0; gensim's save_word2vec_format)
    word2vec_bin   "count dim\\n" header, then per word: the word's UTF-8 bytes, a space, d little-endian
                   float32 values (and a newline, which word2vec writes and readers skip)

``read_vectors(path)`` picks the format from the file (a ``.bin`` name is binary; a first line
of two integers is a word2vec header) unless ``format`` says which. Everything a file can get
wrong is a ``seqjax.data.DataFormatError`` naming the file and, for text, the 1-based line
(for binary, the record): ragged rows, a header whose count or dimension the rows contradict,
values that are not numbers or not finite, a word given twice, an empty file. Nothing is
returned from a damaged file.
"""

from __future__ import annotations

import gzip
import os
import pathlib
import zlib

import numpy as np

from seqjax.data.files import DataFormatError

FORMATS = ("glove", "word2vec", "word2vec_bin")


def _open(file: pathlib.Path, mode: str, gz: bool | None = None):
    return gzip.open(file, mode) if (file.suffix == ".gz" if gz is None else gz) else open(file, mode)


def detect_format(file: str | os.PathLike) -> str:
    file = pathlib.Path(file)
    if ".bin" in file.suffixes:
        return "word2vec_bin"
    try:
        with _open(file, "rb") as f:
            first = f.readline(200).split()
    except (OSError, EOFError, zlib.error) as error:
        raise DataFormatError(file, None, f"not a readable vector file ({error})") from None
    return "word2vec" if len(first) == 2 and all(p.isdigit() for p in first) else "glove"


def _check_row(file, where: int, word: str, values: np.ndarray, dim: int | None, seen: dict[str, int], what: str = "line") -> int:
    if dim is not None and values.shape[0] != dim:
        raise DataFormatError(file, where, f"{word!r} has {values.shape[0]} values, but {'the header says' if what == 'record' else 'earlier rows have'} {dim}")
    if not np.all(np.isfinite(values)):
        raise DataFormatError(file, where, f"the vector of {word!r} holds NaN or infinite values")
    if word in seen:
        raise DataFormatError(file, where, f"{word!r} is given twice (first at {what} {seen[word]})")
    seen[word] = where
    return values.shape[0]


def _read_text(file: pathlib.Path, header: bool, limit: int | None) -> tuple[list[str], np.ndarray]:
    words, rows, dim, count, seen = [], [], None, None, {}
    with _open(file, "rt") as f:
        for number, line in enumerate(f, 1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if header and number == 1:
                if len(parts) != 2 or not all(p.isdigit() for p in parts):
                    raise DataFormatError(file, 1, f"expected a word2vec header 'count dim', got {line.strip()[:60]!r}")
                count, dim = int(parts[0]), int(parts[1])
                continue
            if limit is not None and len(words) >= limit:
                break
            if line.strip() == "":
                raise DataFormatError(file, number, "empty line (every line must hold a word and its vector)")
            if len(parts) < 2:
                raise DataFormatError(file, number, "expected a word followed by its vector")
            try:
                values = np.asarray(parts[1:], np.float32)
            except ValueError:
                raise DataFormatError(file, number, f"the vector of {parts[0]!r} has values that are not numbers") from None
            dim = _check_row(file, number, parts[0], values, dim, seen)
            words.append(parts[0])
            rows.append(values)
    if count is not None and limit is None and len(words) != count:
        raise DataFormatError(file, None, f"the header says {count} words, the file holds {len(words)} (truncated?)")
    return words, np.stack(rows) if rows else np.zeros((0, dim or 0), np.float32)


def _read_binary(file: pathlib.Path, limit: int | None) -> tuple[list[str], np.ndarray]:
    with _open(file, "rb") as f:
        head = f.readline().split()
        if len(head) != 2 or not all(p.isdigit() for p in head):
            raise DataFormatError(file, 1, f"expected a word2vec header 'count dim', got {b' '.join(head)[:60]!r}")
        count, dim = int(head[0]), int(head[1])
        words, rows, seen = [], [], {}
        for record in range(1, count + 1):
            if limit is not None and len(words) >= limit:
                break
            word = bytearray()
            while (ch := f.read(1)) != b" ":
                if ch == b"":
                    raise DataFormatError(file, None, f"ends inside record {record} of the {count} its header promises (truncated?)")
                if ch != b"\n" or word:  # the newline that ends the previous record
                    word += ch
            data = f.read(4 * dim)
            if len(data) < 4 * dim:
                raise DataFormatError(file, None, f"ends inside the vector of record {record} (truncated?)")
            try:
                text = word.decode("utf-8")
            except UnicodeDecodeError:
                raise DataFormatError(file, None, f"record {record}: the word is not UTF-8 ({bytes(word)[:40]!r})") from None
            values = np.frombuffer(data, "<f4").astype(np.float32)
            _check_row(file, record, text, values, dim, seen, what="record")
            words.append(text)
            rows.append(values)
        if limit is None and f.read(16).strip():  # beyond the last record's newline
            raise DataFormatError(file, None, f"holds more than the {count} records its header says")
    return words, np.stack(rows) if rows else np.zeros((0, dim), np.float32)


def read_vectors(path: str | os.PathLike, *, format: str | None = None, limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """``(words, vectors [n, d] float32)`` of a vector file, the first ``limit`` rows if given."""
    file = pathlib.Path(path)
    if not file.is_file():
        raise DataFormatError(file, None, "no such file")
    format = format or detect_format(file)
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    try:
        words, vectors = _read_binary(file, limit) if format == "word2vec_bin" else _read_text(file, format == "word2vec", limit)
    except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as error:
        raise DataFormatError(file, None, f"not a readable {format} file ({error})") from None
    if not words:
        raise DataFormatError(file, None, "no vectors found")
    return words, vectors


def write_vectors(path: str | os.PathLike, words: list[str], vectors: np.ndarray, *, format: str = "glove") -> pathlib.Path:
    """Writes ``words`` and ``vectors [n, d]`` in ``format`` (gzip when the name ends in .gz),
    atomically: a reader never sees a half-written file. Text values are written with 8
    significant digits, which float32 round-trips to within 1e-7 relative."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"vectors must have shape [len(words)={len(words)}, dim], got {vectors.shape}")
    bad = [w for w in words if not w or any(c.isspace() for c in w)]
    if bad:
        raise ValueError(f"words must be non-empty and hold no whitespace (the formats split on it), got {bad[0]!r}")
    file = pathlib.Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    with _open(partial, "wb", gz=file.suffix == ".gz") as f:
        if format != "glove":
            f.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        for word, row in zip(words, vectors):
            if format == "word2vec_bin":
                f.write(word.encode("utf-8") + b" " + row.astype("<f4").tobytes() + b"\n")
            else:
                f.write((word + " " + " ".join(f"{v:.8g}" for v in row) + "\n").encode("utf-8"))
    os.replace(partial, file)
    return file
