"""WordNet synonyms: the data-file reader on a hand-made database and, where Debian's wordnet-base is
installed, on WordNet 3.0 itself; retrofitting to those synonyms."""

import numpy as np
import pytest

from seqjax.data import DataFormatError
from seqjax.embeddings import Vectors, retrofit
from seqjax.embeddings.wordnet import synsets, wordnet_dir, wordnet_pairs

LICENCE = "  1 This software and database is being provided to you, the LICENSEE, by\n  2 Princeton University\n"
NOUN = "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived\n" \
       "02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 000 | a member of the genus Canis\n"
ADJ = "00001740 00 a 02 able 0 capable(a) 0 000 | having the necessary means\n" \
      "00002098 00 a 01 unable 0 000 | not having the necessary means\n"


def make_db(folder, noun=NOUN):
    for part, body in (("noun", noun), ("verb", ""), ("adj", ADJ), ("adv", "")):
        (folder / f"data.{part}").write_text(LICENCE + body)
    return folder


def test_synsets_and_pairs_from_the_data_files(tmp_path):
    db = make_db(tmp_path)
    found = list(synsets(db))
    assert found == [("noun", "00001740", ("entity",)), ("noun", "02084071", ("dog", "domestic_dog", "canis_familiaris")),
                     ("adj", "00001740", ("able", "capable")), ("adj", "00002098", ("unable",))]
    assert list(synsets(db, parts=("noun",), lower=False))[1][2] == ("dog", "domestic_dog", "Canis_familiaris")
    pairs = set(wordnet_pairs(db))
    assert pairs == {("dog", "domestic_dog"), ("domestic_dog", "dog"), ("dog", "canis_familiaris"), ("canis_familiaris", "dog"),
                     ("domestic_dog", "canis_familiaris"), ("canis_familiaris", "domestic_dog"), ("able", "capable"), ("capable", "able")}


def test_bad_database_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="wordnet-base"):
        wordnet_dir(tmp_path)
    make_db(tmp_path, noun=NOUN + "02084072 05 n 0x dog\n")
    with pytest.raises(DataFormatError, match=r"data.noun.*line 5"):
        list(synsets(tmp_path))
    with pytest.raises(ValueError, match="parts must be among"):
        list(synsets(tmp_path, parts=("nouns",)))


def test_retrofitting_pulls_synonyms_together(tmp_path):
    rng = np.random.default_rng(0)
    vectors = Vectors(["dog", "domestic_dog", "able", "capable", "unable"], rng.normal(size=(5, 4)))
    edges, unknown = retrofit.edges_from_pairs(vectors, wordnet_pairs(make_db(tmp_path)))
    assert unknown == 4 and len(edges) == 4  # the four pairs with canis_familiaris, which has no vector
    new = retrofit.retrofit(vectors, edges, iterations=10)
    before, after = (np.linalg.norm(v["able"] - v["capable"]) for v in (vectors, new))
    assert after < before and np.allclose(new["unable"], vectors["unable"])


def _installed():
    try:
        return wordnet_dir()
    except FileNotFoundError:
        return None


@pytest.mark.skipif(_installed() is None, reason="WordNet 3.0 is not installed (Debian's wordnet-base, or $WNHOME/dict)")
def test_wordnet_3_0_itself():
    counts = {}
    for part, _, _ in synsets():
        counts[part] = counts.get(part, 0) + 1
    assert counts == {"noun": 82115, "verb": 13767, "adj": 18156, "adv": 3621}  # WordNet 3.0's synsets by part of speech
    adj = {offset: words for part, offset, words in synsets(parts=("adj",))}
    assert adj["00002312"] == ("abaxial", "dorsal")
