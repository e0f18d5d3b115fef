"""Dataset loaders: the search order, checked downloads, small files written here (good and
malformed), and the real copies in ../shared/data when they are present."""

import gzip
import hashlib
import pathlib

import numpy as np
import pytest

from seqjax.data import DataFormatError, DataNotFoundError, datasets, files

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared data copies are not at {SHARED}")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test may see the developer's data dir or cache."""
    monkeypatch.delenv("SEQJAX_DATA_DIR", raising=False)
    monkeypatch.setenv("SEQJAX_CACHE_DIR", str(tmp_path / "cache"))


def write(path: pathlib.Path, data: bytes) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


# --- where files are found -------------------------------------------------------------


def test_search_order_path_then_data_dir_then_cache(tmp_path, monkeypatch):
    monkeypatch.setitem(files.FILES, "tinyshakespeare/input.txt", files.RemoteFile("tinyshakespeare/input.txt", None, None))  # no checksum
    for place in ("explicit", "datadir", "cache"):
        write(tmp_path / place / "tinyshakespeare/input.txt", f"from {place}\n".encode())
    monkeypatch.setenv("SEQJAX_DATA_DIR", str(tmp_path / "datadir"))
    monkeypatch.setenv("SEQJAX_CACHE_DIR", str(tmp_path / "cache"))
    assert datasets.tiny_shakespeare(tmp_path / "explicit") == "from explicit\n"          # a data folder
    assert datasets.tiny_shakespeare(tmp_path / "explicit/tinyshakespeare/input.txt") == "from explicit\n"  # the file
    assert datasets.tiny_shakespeare() == "from datadir\n"
    monkeypatch.setenv("SEQJAX_DATA_DIR", str(tmp_path / "empty"))
    assert datasets.tiny_shakespeare() == "from cache\n"
    with pytest.raises(DataNotFoundError, match="no such file"):
        datasets.tiny_shakespeare(tmp_path / "nowhere.txt")


def test_a_damaged_known_file_is_caught_wherever_it_is_found(tmp_path, monkeypatch):
    published = b"First Citizen:\nBefore we proceed any further, hear me speak.\n"
    monkeypatch.setitem(files.FILES, "tinyshakespeare/input.txt",
                        files.RemoteFile("tinyshakespeare/input.txt", None, hashlib.sha256(published).hexdigest()))
    monkeypatch.setenv("SEQJAX_CACHE_DIR", str(tmp_path / "cache"))
    for place in ("datadir", "cache"):
        write(tmp_path / place / "tinyshakespeare/input.txt", published[:20])  # cut short
    monkeypatch.setenv("SEQJAX_DATA_DIR", str(tmp_path / "datadir"))
    with pytest.raises(DataFormatError, match=r"datadir/tinyshakespeare/input.txt: its sha256 .* \(20 bytes\): truncated"):
        datasets.tiny_shakespeare()
    monkeypatch.setenv("SEQJAX_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DataFormatError, match=r"cache/tinyshakespeare/input.txt: its sha256.*pass it as path="):
        datasets.tiny_shakespeare()
    with pytest.warns(files.ModifiedDataWarning, match="using it as given"):
        assert datasets.tiny_shakespeare(tmp_path / "cache") == "First Citizen:\nBefor\n"
    write(tmp_path / "cache" / "tinyshakespeare/input.txt", published)  # the published bytes pass
    assert datasets.tiny_shakespeare().startswith("First Citizen:\nBefore we proceed")


def _serve(monkeypatch, relpath: str, source: pathlib.Path, sha: str):
    monkeypatch.setitem(files.FILES, relpath, files.RemoteFile(relpath, source.as_uri(), sha))


def test_download_checks_sha256_and_caches(tmp_path, monkeypatch):
    source = write(tmp_path / "server/input.txt", b"First Citizen:\nSpeak.\n")
    _serve(monkeypatch, "tinyshakespeare/input.txt", source, hashlib.sha256(source.read_bytes()).hexdigest())
    assert datasets.tiny_shakespeare() == "First Citizen:\nSpeak.\n"
    assert (tmp_path / "cache/tinyshakespeare/input.txt").is_file()
    source.unlink()  # now served from the cache
    assert datasets.tiny_shakespeare() == "First Citizen:\nSpeak.\n"


def test_download_with_wrong_sha256_is_discarded(tmp_path, monkeypatch):
    source = write(tmp_path / "server/input.txt", b"tampered\n")
    _serve(monkeypatch, "tinyshakespeare/input.txt", source, "0" * 64)
    with pytest.raises(DataFormatError, match="does not match the expected"):
        datasets.tiny_shakespeare()
    assert not list((tmp_path / "cache").rglob("*.txt")) and not list((tmp_path / "cache").rglob("*.part"))


def test_offline_error_says_where_to_put_the_file(monkeypatch):
    relpath = "tinyshakespeare/input.txt"
    monkeypatch.setitem(files.FILES, relpath, files.RemoteFile(relpath, "http://127.0.0.1:9/input.txt", "0" * 64))
    with pytest.raises(DataNotFoundError, match=r"download from http://127.0.0.1:9/input.txt failed .*\$SEQJAX_DATA_DIR/tinyshakespeare/input.txt"):
        datasets.tiny_shakespeare()
    with pytest.raises(DataNotFoundError, match="glove.6B.zip"):  # no stable URL: says how to get it
        datasets.glove("glove/glove.6B.300d.txt")


# --- parsing small files, good and malformed ---------------------------------------------


def test_mr_decodes_cp1252_and_labels(tmp_path):
    write(tmp_path / "mr/rt-polarity.pos", b"a clich\xe9d but fun ride \x97 really . \n")
    write(tmp_path / "mr/rt-polarity.neg", b"dull .\nboring \x85 \n")
    assert datasets.mr(tmp_path) == [("a clichéd but fun ride — really .", 1), ("dull .", 0), ("boring …", 0)]
    write(tmp_path / "bad/mr/rt-polarity.pos", b"fine\n\xe9 ok \x81\n")  # 0x81 is undefined in cp1252
    write(tmp_path / "bad/mr/rt-polarity.neg", b"x\n")
    with pytest.raises(DataFormatError, match=r"rt-polarity.pos, line 2: cannot decode byte b'\\x81' as cp1252"):
        datasets.mr(tmp_path / "bad")


def test_multi30k_pairs_and_alignment_errors(tmp_path):
    write(tmp_path / "multi30k/val.de.gz", "Ein Hund läuft.\nZwei Männer.\n".encode())
    write(tmp_path / "multi30k/val.en.gz", b"A dog runs.\nTwo men.\n")
    assert datasets.multi30k("val", tmp_path) == [("Ein Hund läuft.", "A dog runs."), ("Zwei Männer.", "Two men.")]
    write(tmp_path / "multi30k/val.en.gz", b"A dog runs.\n")
    with pytest.raises(DataFormatError, match="has 1 lines but .*val.de.gz has 2"):
        datasets.multi30k("val", tmp_path)
    (tmp_path / "multi30k/val.en.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataFormatError, match="val.en.gz: not a readable gzip file"):
        datasets.multi30k("val", tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        datasets.multi30k("dev", tmp_path)


def test_analogies_and_their_errors(tmp_path):
    good = write(tmp_path / "a.txt", b": capital-common-countries\nAthens Greece Baghdad Iraq\n: gram1\nfast faster slow slower\n")
    assert datasets.analogies(good) == {"capital-common-countries": [("athens", "greece", "baghdad", "iraq")],
                                         "gram1": [("fast", "faster", "slow", "slower")]}
    bad = write(tmp_path / "b.txt", b": s\nAthens Greece Baghdad\n")
    with pytest.raises(DataFormatError, match="b.txt, line 2: expected 4 words"):
        datasets.analogies(bad)
    headless = write(tmp_path / "c.txt", b"a b c d\n")
    with pytest.raises(DataFormatError, match="c.txt, line 1: question before the first"):
        datasets.analogies(headless)


def test_word_similarity_and_errors(tmp_path):
    good = write(tmp_path / "ws.tsv", b"# comment\n# more\nTiger\tcat\t7.35\nbook paper 7.46\n")
    assert datasets.word_similarity("wordsim353", good) == [("tiger", "cat", 7.35), ("book", "paper", 7.46)]
    bad = write(tmp_path / "bad.tsv", b"# c\ntiger\tcat\thigh\n")
    with pytest.raises(DataFormatError, match="bad.tsv, line 2: score 'high' is not a number"):
        datasets.word_similarity("simlex999", bad)


def test_glove_text_and_gz_with_errors(tmp_path):
    rows = b"the 0.1 0.2 0.3\n, -1 0 1.5\n"
    for name in ("g.txt", "g.txt.gz"):
        words, vectors = datasets.glove(write(tmp_path / name, rows))
        assert words == ["the", ","] and vectors.dtype == np.float32
        np.testing.assert_array_equal(vectors, np.array([[0.1, 0.2, 0.3], [-1, 0, 1.5]], np.float32))
    words, _ = datasets.glove(write(tmp_path / "w2v.txt", b"2 3\n" + rows))  # word2vec header skipped
    assert words == ["the", ","]
    assert datasets.glove(write(tmp_path / "g2.txt", rows), limit=1)[0] == ["the"]
    with pytest.raises(DataFormatError, match="ragged.txt, line 2: 'b' has 2 values, but earlier rows have 3"):
        datasets.glove(write(tmp_path / "ragged.txt", b"a 1 2 3\nb 1 2\n"))
    with pytest.raises(DataFormatError, match="nan.txt, line 1: the vector of 'a' has values that are not numbers"):
        datasets.glove(write(tmp_path / "nan.txt", b"a 1 x 3\n"))


def test_dbpedia_csv_and_errors(tmp_path):
    write(tmp_path / "dbpedia/train.csv", b'1,"E. I. du Pont","A chemical company, founded 1802."\n14,"Ulysses"," A novel "\n')
    assert datasets.dbpedia("train", tmp_path) == [(0, "E. I. du Pont", "A chemical company, founded 1802."), (13, "Ulysses", "A novel")]
    write(tmp_path / "bad/dbpedia/train.csv", b'1,"ok","fine"\n"x","title","text"\n')
    with pytest.raises(DataFormatError, match="train.csv, line 2: label 'x' is not one of the 14 classes"):
        datasets.dbpedia("train", tmp_path / "bad")
    write(tmp_path / "short/dbpedia/train.csv", b'3,"only two"\n')
    with pytest.raises(DataFormatError, match="line 1: expected 3 fields"):
        datasets.dbpedia("train", tmp_path / "short")
    write(tmp_path / "range/dbpedia/train.csv", b'1,"a","b"\n15,"c","d"\n')
    with pytest.raises(DataFormatError, match="line 2: label '15' is not one of the 14 classes"):
        datasets.dbpedia("train", tmp_path / "range")
    assert len(datasets.dbpedia_classes()) == 14


def test_labelled_texts_roles_classes_and_errors(tmp_path):
    # a multi-line quoted text: the next row's errors still name the line it starts on
    write(tmp_path / "own.csv", b'label,text,source\npos,"great\nfilm",x\nneg,awful,y\npos,fine,z\n')
    rows, classes = datasets.labelled_texts(tmp_path / "own.csv", ("label", "text", "-"), header=True)
    assert classes == ["neg", "pos"] and rows == [("great\nfilm", 1), ("awful", 0), ("fine", 1)]
    rows, classes = datasets.labelled_texts(tmp_path / "own.csv", ("label", "text", "text"), header=True, classes=["pos", "neg"])
    assert rows[1] == ("awful y", 1)
    with pytest.warns(DeprecationWarning, match="labelled_texts, which returns \\(text, label\\)"):
        assert datasets.labelled_csv(tmp_path / "own.csv", ("label", "text", "text"), header=True, classes=["pos", "neg"])[0][1] == (1, "awful y")
    write(tmp_path / "numbers.csv", b'10,a\n9,b\n')
    assert datasets.labelled_texts(tmp_path / "numbers.csv")[1] == ["9", "10"]  # numeric order
    write(tmp_path / "empty_text.csv", b'pos,"ok"\nneg,"  "\n')
    with pytest.raises(DataFormatError, match="empty_text.csv, line 2: the text is empty"):
        datasets.labelled_texts(tmp_path / "empty_text.csv")
    write(tmp_path / "fields.csv", b'pos,"two\nlines"\nneg\n')
    with pytest.raises(DataFormatError, match="fields.csv, line 3: expected 2 fields"):
        datasets.labelled_texts(tmp_path / "fields.csv")
    write(tmp_path / "unknown.csv", b'pos,a\nmaybe,b\n')
    with pytest.raises(DataFormatError, match="unknown.csv, line 2: label 'maybe' is not one of the 2 classes"):
        datasets.labelled_texts(tmp_path / "unknown.csv", classes=["neg", "pos"])
    write(tmp_path / "latin.csv", b'pos,caf\xe9\n')
    with pytest.raises(DataFormatError, match="latin.csv, line 1: cannot decode"):
        datasets.labelled_texts(tmp_path / "latin.csv")
    with pytest.raises(ValueError, match="one 'label'"):
        datasets.labelled_texts(tmp_path / "own.csv", ("text", "text", "-"))


# --- the real files -------------------------------------------------------------------------


@needs_shared
def test_shared_copies_match_the_registered_checksums():
    for relpath, remote in files.FILES.items():
        if remote.sha256 and (SHARED / relpath).is_file():
            assert files.sha256(SHARED / relpath) == remote.sha256, relpath


@needs_shared
def test_real_datasets_parse_with_the_documented_counts():
    assert len(datasets.tiny_shakespeare(SHARED)) == 1115394
    pairs = datasets.mr(SHARED)
    assert len(pairs) == 10662 and sum(label for _, label in pairs) == 5331
    assert any("clichés" in text for text, _ in pairs)  # cp1252 decoded
    assert len(datasets.multi30k("train", SHARED)) == 29000
    assert len(datasets.multi30k("test_2016_flickr", SHARED)) == 1000
    questions = datasets.analogies(SHARED)
    assert len(questions) == 14 and sum(map(len, questions.values())) == 19544
    assert len(datasets.word_similarity("wordsim353", SHARED)) == 353
    assert len(datasets.word_similarity("simlex999", SHARED)) == 999
    words, vectors = datasets.glove("glove/glove.6B.50d.subset.txt", path=SHARED)
    assert vectors.shape == (256, 50) and words[:3] == ["the", ",", "."]
    assert datasets.glove("glove/glove.6B.300d.sample.txt.gz", path=SHARED)[1].shape == (100, 300)
    classes = (SHARED / "dbpedia/classes.txt").read_text().split()
    assert classes == datasets.dbpedia_classes()
