"""Vocabularies, padding, bucketing (with a compile count), resumable iterators and sentence-pair batches."""

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import data, train
from seqjax.data import EOS_ID, GO_ID, PAD_ID, UNK_ID, Vocab


# --- vocabularies -------------------------------------------------------------------


def test_vocab_specials_frequency_order_and_cuts():
    corpus = ["b a a", "c a b", "d"]
    vocab = data.Vocab.build(corpus)
    assert vocab.tokens[:4] == ("<PAD>", "<UNK>", "<EOS>", "<GO>")
    assert (data.PAD_ID, data.UNK_ID, data.EOS_ID, data.GO_ID) == (0, 1, 2, 3)
    assert vocab.tokens[4:] == ("a", "b", "c", "d")  # by count 3, 2, then first-seen order for ties
    assert data.Vocab.build(corpus, min_freq=2).tokens[4:] == ("a", "b")
    assert data.Vocab.build(corpus, max_size=5).tokens == ("<PAD>", "<UNK>", "<EOS>", "<GO>", "a")
    assert vocab.encode("a zebra c", add_go=True, add_eos=True) == [3, 4, 1, 6, 2]
    assert vocab.decode([3, 4, 1, 6, 2, 5, 5]) == "a <UNK> c"  # stops at <EOS>, drops <GO>
    with pytest.raises(ValueError, match="max_size must be at least 4"):
        data.Vocab.build(corpus, max_size=2)


def test_char_vocab_round_trip_and_word_tokenizer():
    text = "To be, or not to be.\n"
    vocab = data.Vocab.build(text, level="char", specials=False)
    assert vocab.decode(vocab.encode(text)) == text
    with pytest.raises(KeyError, match="no <UNK>"):
        vocab.encode("z")
    assert data.word_tokenize("Don't stop, BELIEVING!") == ["don't", "stop", ",", "believing", "!"]


def test_vocab_save_load(tmp_path):
    vocab = data.Vocab.build(["x y z y"], min_freq=1)
    vocab.save(tmp_path / "vocab.json")
    assert data.Vocab.load(tmp_path / "vocab.json") == vocab
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a seqjax vocabulary"):
        data.Vocab.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"tokens": 3}')
    with pytest.raises(ValueError, match="other.json: not a seqjax vocabulary"):
        data.Vocab.load(tmp_path / "other.json")


# --- padding, clipping, masks, buckets ---------------------------------------------------


def test_pad_clip_mask_and_buckets():
    ids, lengths = data.pad([[5, 6, 7], [8]])
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1])
    ids, lengths = data.pad([[5, 6, 7], [8]], length=2)  # clipped
    np.testing.assert_array_equal(ids, [[5, 6], [8, 0]])
    np.testing.assert_array_equal(lengths, [2, 1])
    with pytest.raises(ValueError, match="does not fit length=2 and clip=False"):
        data.pad([[5, 6, 7]], length=2, clip=False)
    assert data.pad([[1] * 5], buckets=(4, 8, 16))[0].shape == (1, 8)
    assert data.pad([[1] * 40], buckets=(4, 8, 16))[0].shape == (1, 16)  # clipped at the largest bucket
    assert [data.bucket_length(n, (8, 4)) for n in (0, 4, 5, 9)] == [4, 4, 8, 8]
    np.testing.assert_array_equal(data.mask([2, 0], 3), [[True, True, False], [False, False, False]])


def test_bucketing_compiles_at_most_once_per_bucket():
    rng = np.random.default_rng(0)
    examples = [list(rng.integers(1, 50, size=n)) for n in rng.integers(1, 60, size=300)]
    buckets = (8, 16, 32, 64)

    def collate(batch):
        ids, lengths = data.pad(batch, buckets=buckets)
        return {"ids": ids, "lengths": lengths}

    @chex.assert_max_traces(n=len(buckets))
    def masked_mean(batch):
        m = jnp.arange(batch["ids"].shape[1])[None] < batch["lengths"][:, None]
        return jnp.sum(jnp.where(m, batch["ids"], 0)) / jnp.sum(m)

    counted = train.CountingJit(masked_mean)
    batches = data.Batches(examples, 10, collate, seed=3, epochs=2, lengths=len)
    shapes = set()
    for batch in batches:
        shapes.add(batch["ids"].shape[1])
        got = counted(batch)
        want = np.mean(np.concatenate([batch["ids"][i, :n] for i, n in enumerate(batch["lengths"])]))
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert shapes == set(buckets)
    assert counted.compilations == len(buckets)  # 60 batches, 4 compilations
    # without buckets, padding to each batch's own maximum compiles far more often
    plain = train.CountingJit(lambda b: jnp.sum(b["ids"]))
    for batch in data.Batches(examples, 10, lambda b: {"ids": data.pad(b)[0]}, seed=3, epochs=1):
        plain(batch)
    assert plain.compilations > 2 * len(buckets)


# --- batch iterators ---------------------------------------------------------------------


def _take(iterator, n):
    return [next(iterator) for _ in range(n)]


def test_batches_shuffle_by_seed_epochs_and_cover_everything():
    batches = data.Batches(list(range(10)), 3, np.array, seed=1, epochs=2)
    epoch0 = _take(batches, 3)
    assert len(set(np.concatenate(epoch0).tolist())) == 9  # drop_last: 9 distinct examples of 10 per epoch
    epoch1 = _take(batches, 3)
    assert [b.tolist() for b in epoch0] != [b.tolist() for b in epoch1]  # a new shuffle each epoch
    with pytest.raises(StopIteration):
        next(batches)
    again = data.Batches(list(range(10)), 3, np.array, seed=1)
    assert [b.tolist() for b in _take(again, 3)] == [b.tolist() for b in epoch0]  # same seed, same order


def test_batches_resume_from_state_matches_uninterrupted():
    reference = [b.tolist() for b in _take(data.Batches(list(range(23)), 4, np.array, seed=7), 17)]
    first = data.Batches(list(range(23)), 4, np.array, seed=7)
    got = [b.tolist() for b in _take(first, 8)]
    saved = first.state()
    second = data.Batches(list(range(23)), 4, np.array, seed=7)
    second.restore(saved)
    got += [b.tolist() for b in _take(second, 9)]
    assert got == reference
    with pytest.raises(ValueError, match="integer 'epoch' and 'index'"):
        second.restore({"epoch": "x"})


def test_length_grouping_makes_batches_of_similar_length():
    rng = np.random.default_rng(1)
    examples = [[1] * n for n in rng.integers(1, 100, size=400)]
    grouped = data.Batches(examples, 20, lambda b: [len(x) for x in b], seed=0, lengths=len)
    spread = [max(b) - min(b) for b in _take(grouped, len(grouped))]
    plain = data.Batches(examples, 20, lambda b: [len(x) for x in b], seed=0)
    assert np.mean(spread) < 0.2 * np.mean([max(b) - min(b) for b in _take(plain, len(plain))])


def test_token_stream_rows_continue_across_batches_and_resume():
    ids = np.arange(1000)
    stream = data.TokenStream(ids, batch_size=4, window=10, seed=0)
    a, b = next(stream), next(stream)
    assert a["reset"] and not b["reset"]
    np.testing.assert_array_equal(a["targets"][:, :-1], a["ids"][:, 1:])  # targets are the next tokens
    np.testing.assert_array_equal(b["ids"][:, 0], a["targets"][:, -1])    # each row continues
    saved = stream.state()
    rest = [next(stream)["ids"] for _ in range(30)]  # crosses an epoch boundary
    resumed = data.TokenStream(ids, batch_size=4, window=10, seed=0)
    resumed.restore(saved)
    np.testing.assert_array_equal(np.stack(rest), np.stack([next(resumed)["ids"] for _ in range(30)]))
    with pytest.raises(ValueError, match="too short"):
        data.TokenStream(np.arange(30), batch_size=4, window=10)


def test_pairs_teacher_forcing_batches():
    from seqjax.data import pairs

    batch = pairs.collate_pairs([([5, 6, 7], [8, 9]), ([5], [8, 9, 10, 11])], buckets=(4, 8))
    assert batch["source"].tolist() == [[5, 6, 7, 0, 0, 0, 0, 0], [5, 0, 0, 0, 0, 0, 0, 0]]  # 4 tokens + <EOS> need bucket 8
    assert batch["source_lengths"].tolist() == [3, 1]
    assert batch["target_inputs"][:, :5].tolist() == [[GO_ID, 8, 9, 0, 0], [GO_ID, 8, 9, 10, 11]]
    assert batch["target_outputs"][:, :5].tolist() == [[8, 9, EOS_ID, 0, 0], [8, 9, 10, 11, EOS_ID]]
    assert batch["target_lengths"].tolist() == [3, 5]
    clipped = pairs.collate_pairs([([5] * 9, [8] * 9)], buckets=(4,))  # clipped at the largest bucket, <EOS> kept
    assert clipped["target_outputs"].tolist() == [[8, 8, 8, EOS_ID]] and clipped["source_lengths"].tolist() == [4]
    vocab = Vocab.build(["a b c"])
    examples = pairs.encode_pairs([("a b", "c"), ("z", "a")], vocab, vocab, lambda s: s.split())
    assert examples == [([vocab.id("a"), vocab.id("b")], [vocab.id("c")]), ([UNK_ID], [vocab.id("a")])]
    assert pairs.unknown_rate(examples) == (1 / 3, 0.0)
    with pytest.raises(ValueError, match="pair 0 has an empty source"):
        pairs.encode_pairs([("", "c")], vocab, vocab, lambda s: s.split())
    batches = pairs.pair_batches([([i + 4], [i + 4]) for i in range(10)], 3, seed=1)
    first = [next(batches) for _ in range(5)]
    resumed = pairs.pair_batches([([i + 4], [i + 4]) for i in range(10)], 3, seed=1)
    resumed.restore({"epoch": 1, "index": 1})
    assert np.array_equal(next(resumed)["source"], first[4]["source"])  # 3 batches an epoch: batch 5 is epoch 1, index 1
    order = [(start, ids[:, 0].tolist(), n.tolist()) for start, ids, n in pairs.source_batches([[4], [5, 6], [7]], 2)]
    assert order == [(0, [4, 5], [1, 2]), (2, [7, 7], [1, 1])]  # in order; the last batch filled with copies
    assert pairs.strip_specials([GO_ID, 5, 6, EOS_ID, 7, PAD_ID]) == [5, 6]
