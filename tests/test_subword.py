"""Subword vocabularies (``seqjax.data.subword``, backed by Hugging Face's ``tokenizers``): trained
byte-level BPE and WordPiece with seqjax's special tokens at their ids, exact round trips, saving
with a model, and a ``tokenizer.json`` read as it is."""

import gzip
import pathlib

import jax
import numpy as np
import pytest

import seqjax
from seqjax import data
from seqjax.data.vocab import EOS_ID, GO_ID, PAD_ID, SPECIALS, UNK_ID

subword = pytest.importorskip("seqjax.data.subword")
pytest.importorskip("tokenizers", reason="the 'hf' extra (tokenizers) is not installed")
SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
TEXTS = ["A man in a blue T-shirt runs.", "Two dogs play in the snow!", "A woman (in red) sings: \"la la\".",
         "Children's toys lie on the floor.", "A man rides a bike, fast."] * 4


def test_trained_bpe_puts_the_specials_first_and_gives_any_text_back_exactly():
    bpe = subword.SubwordVocab.train(TEXTS, kind="bpe", vocab_size=300, min_frequency=1)
    assert bpe.tokens[:4] == SPECIALS and bpe.has_specials and len(bpe) <= 300
    for text in TEXTS + ["Ünïcödé, emoji 🙂 and tabs\tstay.", "  two  spaces "]:  # bytes: nothing is unknown
        ids = bpe.encode(text, add_go=True, add_eos=True)
        assert ids[0] == GO_ID and ids[-1] == EOS_ID and UNK_ID not in ids
        assert bpe.decode(ids) == text
        assert bpe.decode(ids + [PAD_ID, PAD_ID]) == text  # padding and what follows <EOS> are dropped
    assert len(bpe.encode("A man runs.")) < len("A man runs.")  # merges learnt: fewer tokens than bytes


def test_wordpiece_splits_punctuation_and_knows_its_unknowns():
    wordpiece = subword.SubwordVocab.train(TEXTS, kind="wordpiece", vocab_size=200, min_frequency=1)
    assert len(wordpiece) <= 200
    assert wordpiece.tokens[:4] == SPECIALS
    assert wordpiece.decode(wordpiece.encode("A man runs, fast.")) == "A man runs, fast."
    # BERT-style: punctuation is split from words, and only sentence punctuation is joined back on decoding
    assert wordpiece.decode(wordpiece.encode("A blue T-shirt (red).")) == "A blue T - shirt ( red )."
    assert UNK_ID in wordpiece.encode("Ωmega")  # a character never seen in training


@pytest.mark.slow  # ~11 s: two compiled transformer decoders
def test_a_subword_vocab_saves_loads_and_travels_with_a_model(tmp_path):
    bpe = subword.SubwordVocab.train(TEXTS, kind="bpe", vocab_size=280, min_frequency=1)
    bpe.save(tmp_path / "v.json")
    again = data.Vocab.load(tmp_path / "v.json")
    assert again == bpe and again.tokens == bpe.tokens and again.encode(TEXTS[2]) == bpe.encode(TEXTS[2])
    bpe.tokenizer.save(str(tmp_path / "tokenizer.json"))  # tokenizers' own file reads as it is
    assert subword.SubwordVocab.load(tmp_path / "tokenizer.json").encode(TEXTS[0]) == bpe.encode(TEXTS[0])
    model = seqjax.models.Transformer(len(bpe), len(bpe), d_model=16, num_heads=2, encoder_layers=1, decoder_layers=1, d_ff=32)
    params = model.init(jax.random.key(0))
    seqjax.save_model(tmp_path / "m", model, params, vocabularies={"src": bpe, "tgt": bpe}, meta={"generate": {"max_length": 6}})
    loaded = seqjax.load(tmp_path / "m")
    assert loaded.vocabularies["src"] == bpe
    ids = np.asarray([bpe.encode(TEXTS[1])])
    want = model.generate(params, ids, np.asarray([ids.shape[1]]), max_length=6).tokens[0]
    assert loaded.generate([TEXTS[1]]) == [bpe.decode(np.asarray(want))]
    (tmp_path / "bad.json").write_text('{"model": 3}')
    with pytest.raises(ValueError, match="bad.json: not a tokenizer file"):
        subword.SubwordVocab.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="vocab_size must be at least 260 for bpe \\(the 4 special tokens and the 256 bytes\\), got 100"):
        subword.SubwordVocab.train(TEXTS, vocab_size=100)


@pytest.mark.skipif(not (SHARED / "multi30k").is_dir(), reason="../shared/data/multi30k is absent")
def test_bpe_on_multi30k_round_trips_every_validation_sentence():
    def lines(name):
        return gzip.decompress((SHARED / "multi30k" / name).read_bytes()).decode("utf-8").splitlines()

    bpe = subword.SubwordVocab.train(lines("train.en.gz"), kind="bpe", vocab_size=8000)
    val = lines("val.en.gz")
    assert all(bpe.decode(bpe.encode(t, add_eos=True)) == t for t in val)
    words = sum(len(t.split()) for t in val)
    assert 1.0 < sum(len(bpe.encode(t)) for t in val) / words < 1.6  # an 8,000-token BPE: few splits per English word
