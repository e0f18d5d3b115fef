"""Finding a dataset file: explicit path, ``$SEQJAX_DATA_DIR``, the user cache, or a checked download.

Each known file has a path relative to a data folder (the layout of ``../shared/data``),
the public URL it is downloaded from, and the sha256 of its bytes. ``locate`` looks in
this order and returns the first hit:

1. ``path``: a file, or a folder holding the relative path;
2. ``$SEQJAX_DATA_DIR/<relative path>``;
3. the cache, ``$SEQJAX_CACHE_DIR`` or ``~/.cache/seqjax``;
4. a download into the cache, kept only if its sha256 matches.

A known file found at step 2 or 3 is checked against its sha256 (once per process and file
version): a truncated, re-encoded or other version is a ``DataFormatError`` that says so, since
it would load as if whole. A file passed as ``path`` is the caller's choice: a mismatch there is a
``ModifiedDataWarning`` and the file is used as given.

Offline, step 4 fails with a message that says where to put the file. Downloads are
pinned to a commit, so the checksum cannot drift. Files with no stable public URL
(the full GloVe zip, DBpedia on Google Drive) are found by steps 1-3 only; their
message says where to get them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import tempfile
import urllib.error
import urllib.request


class DataFormatError(ValueError):
    """A data file that cannot be parsed; names the file and the 1-based line."""

    def __init__(self, file, line: int | None, message: str):
        self.file, self.line = str(file), line
        where = f"{file}, line {line}" if line is not None else f"{file}"
        super().__init__(f"{where}: {message}")


class DataNotFoundError(FileNotFoundError):
    pass


class ModifiedDataWarning(UserWarning):
    """A known file passed explicitly differs from the published one; it is used as given."""


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    relpath: str               # where it lives under a data folder, e.g. "mr/rt-polarity.pos"
    url: str | None            # a pinned public URL, or None where there is no stable one
    sha256: str | None
    hint: str = ""             # how to get the file by hand


_GH = "https://raw.githubusercontent.com"
_GENSIM = f"{_GH}/piskvorky/gensim"
_M30K = f"{_GH}/multi30k/dataset/c9be912dc05a3ebf9ae5bb5f7f58c1791cda43ab/data/task1/raw"
_ALLEN = f"{_GH}/allenai/allennlp/9c51d6c89875b3a3a50cac165d6f3188d9941c5b/test_fixtures/embeddings"

FILES = {f.relpath: f for f in [
    RemoteFile("tinyshakespeare/input.txt",
               f"{_GH}/karpathy/char-rnn/370cbcd448eb7daf32f21a6be560b70e0b33c4e3/data/tinyshakespeare/input.txt",
               "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),
    # MR sentence polarity v1.0 (Pang & Lee 2005), Kim's (2014) copy of the Cornell tarball's two files.
    RemoteFile("mr/rt-polarity.pos", f"{_GH}/yoonkim/CNN_sentence/4abc8df1de694999ff54826854d3ebc53e3e9c20/rt-polarity.pos",
               "2da124ec187a9d5a29c9f04e91c540e02baed5af8868f550a26bd6fd4dbf8bf0"),
    RemoteFile("mr/rt-polarity.neg", f"{_GH}/yoonkim/CNN_sentence/4abc8df1de694999ff54826854d3ebc53e3e9c20/rt-polarity.neg",
               "4ace77d558c3714723843f1d65b60c01e3417b208180f0728808d76ad0eeeaca"),
    RemoteFile("multi30k/train.de.gz", f"{_M30K}/train.de.gz", "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"),
    RemoteFile("multi30k/train.en.gz", f"{_M30K}/train.en.gz", "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"),
    RemoteFile("multi30k/val.de.gz", f"{_M30K}/val.de.gz", "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a"),
    RemoteFile("multi30k/val.en.gz", f"{_M30K}/val.en.gz", "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28"),
    RemoteFile("multi30k/test_2016_flickr.de.gz", f"{_M30K}/test_2016_flickr.de.gz",
               "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8"),
    RemoteFile("multi30k/test_2016_flickr.en.gz", f"{_M30K}/test_2016_flickr.en.gz",
               "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9"),
    RemoteFile("analogy/questions-words.txt",
               f"{_GH}/tmikolov/word2vec/45da685079a9a9a29f976d595e4987bd104eb2ae/questions-words.txt",
               "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36"),
    RemoteFile("wordsim/wordsim353.tsv", f"{_GENSIM}/88d032bce7772939a6ca051d8e30701b4eb59c1e/gensim/test/test_data/wordsim353.tsv",
               "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d"),
    RemoteFile("wordsim/simlex999.txt", f"{_GENSIM}/b0fa47c20d5c6e706c44613c14fbcb2542cc402e/gensim/test/test_data/simlex999.txt",
               "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d"),
    RemoteFile("corpora/lee_background.cor",
               f"{_GENSIM}/73ed595bca6582284181d5afe25d3b6df2018d43/gensim/test/test_data/lee_background.cor",
               "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb"),
    RemoteFile("glove/glove.6B.50d.subset.txt",
               f"{_GH}/dubeyKartikay/sembed-engine/d184ba757639937e8e25c8680d213c83230afb9a/testdata/embeddings/glove/glove.6B.50d.subset.txt",
               "dbcd86d486875e735b12b7d7f1eab30e7d7a0a942a4cc7a8f47a2969fe000457"),
    RemoteFile("glove/glove.6B.100d.sample.txt.gz", f"{_ALLEN}/glove.6B.100d.sample.txt.gz",
               "156a9262a32df5a06156f0a4ee6e99730ec8c30142b223ede686bf283c8d07aa"),
    RemoteFile("glove/glove.6B.300d.sample.txt.gz", f"{_ALLEN}/glove.6B.300d.sample.txt.gz",
               "d1ecc9dc1e1270bd9993d0a6a70a960afb664beaffc2dbc839d469169252af0d"),
    *[RemoteFile(f"glove/glove.6B.{d}d.txt", None, None,
                 "download https://nlp.stanford.edu/data/glove.6B.zip (822 MB) and unzip it") for d in (50, 100, 200, 300)],
    *[RemoteFile(f"dbpedia/{split}.csv", None, None,
                 "download dbpedia_csv.tar.gz (Zhang et al. 2015; Google Drive id 0Bz8a_Dbh9QhbQ2Vic1kxMmZZQ1k) and unpack it")
      for split in ("train", "test")],
]}


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("SEQJAX_CACHE_DIR") or pathlib.Path.home() / ".cache" / "seqjax")


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}  # (file, size, mtime) -> its sha256, hashed once per process


def verify(file: pathlib.Path, relpath: str, *, explicit: bool) -> pathlib.Path:
    """``file`` if it is the published ``relpath`` (or one without a known checksum); else an error, or a
    ``ModifiedDataWarning`` when the caller passed the file explicitly."""
    remote = FILES.get(relpath)
    if remote is None or remote.sha256 is None:
        return file
    stat = file.stat()
    key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    got = _VERIFIED.get(key) or _VERIFIED.setdefault(key, sha256(file))
    if got == remote.sha256:
        return file
    why = (f"its sha256 {got[:16]}... is not the published file's {remote.sha256[:16]}... "
           f"({stat.st_size:,} bytes): truncated, re-encoded or another version")
    if explicit:
        import warnings

        warnings.warn(f"{file}: {why}; using it as given", ModifiedDataWarning, stacklevel=3)
        return file
    raise DataFormatError(file, None, f"{why}. Delete it to download the published file again, or pass it as path= to use it as it is")


def locate(relpath: str, path: str | os.PathLike | None = None, *, download: bool = True) -> pathlib.Path:
    """The local path of data file ``relpath`` (see the module docstring for the search order)."""
    if path is not None:
        path = pathlib.Path(path)
        candidate = path / relpath if path.is_dir() else path
        if candidate.is_file():
            return verify(candidate, relpath, explicit=True)
        raise DataNotFoundError(f"{relpath}: no such file at {candidate} (path= may be the file or a data folder holding {relpath})")
    searched = []
    if os.environ.get("SEQJAX_DATA_DIR"):
        candidate = pathlib.Path(os.environ["SEQJAX_DATA_DIR"]) / relpath
        if candidate.is_file():
            return verify(candidate, relpath, explicit=False)
        searched.append(str(candidate))
    cached = cache_dir() / relpath
    if cached.is_file():
        return verify(cached, relpath, explicit=False)
    searched.append(str(cached))
    remote = FILES.get(relpath)
    where = f"Put the file at $SEQJAX_DATA_DIR/{relpath} (or {cached}), or pass path=."
    if remote is None or remote.url is None or not download:
        hint = f" To get it: {remote.hint}." if remote is not None and remote.hint else ""
        raise DataNotFoundError(f"{relpath} not found (looked in {', '.join(searched)}).{hint} {where}")
    return _download(remote, cached, where)


def _download(remote: RemoteFile, target: pathlib.Path, where: str) -> pathlib.Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as tmp:
        try:
            with urllib.request.urlopen(remote.url, timeout=30) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    tmp.write(block)
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            os.unlink(tmp.name)
            raise DataNotFoundError(f"{remote.relpath}: download from {remote.url} failed ({error}); offline? {where}") from None
    got = sha256(pathlib.Path(tmp.name))
    if remote.sha256 is not None and got != remote.sha256:
        os.unlink(tmp.name)
        raise DataFormatError(remote.url, None, f"sha256 {got} does not match the expected {remote.sha256}; the download was discarded")
    os.replace(tmp.name, target)
    return target
