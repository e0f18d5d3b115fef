"""Many to one: pooling over valid steps, Kim's TextCNN, max-norm, folds and the Classifier,
each against a plain loop written from the equations (or PyTorch), with padding that must not matter."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

import seqjax
from seqjax import train
from seqjax.sequences import pooling
from seqjax.sequences.conv import ConvRNN, TextCNN, conv1d, max_norm
from seqjax.data import Vocab, labelled
from seqjax.models import Classifier

from tests.conftest import assert_close


def _pad(x, extra):
    return jnp.concatenate([x, jnp.full(x.shape[:1] + (extra,) + x.shape[2:], 7.0, x.dtype)], axis=1)


# --- pooling -----------------------------------------------------------------------------------------


def test_pooling_matches_a_loop_over_valid_steps(key):
    ys = jax.random.normal(key, (4, 6, 3))
    lengths = jnp.array([6, 1, 3, 0])
    for i, n in enumerate(np.asarray(lengths)):
        want = np.asarray(ys[i, :n])
        assert_close(pooling.masked_mean(ys, lengths)[i], want.mean(0) if n else np.zeros(3))
        assert_close(pooling.masked_max(ys, lengths)[i], want.max(0) if n else np.zeros(3))
        assert_close(pooling.last(ys, lengths)[i], want[-1] if n else np.zeros(3))
    pooled, p = pooling.AttentionPooling(3, 5)(pooling.AttentionPooling(3, 5).init(key), ys, lengths)
    assert_close(p.sum(-1)[:3], np.ones(3))
    assert np.all(np.asarray(p)[np.arange(6)[None] >= np.asarray(lengths)[:, None]] == 0)
    assert_close(pooled, jnp.einsum("bt,btd->bd", p, ys))


@pytest.mark.parametrize("extra", [1, 5])
def test_pooling_ignores_padding(key, extra):
    ys = jax.random.normal(key, (3, 5, 4))
    lengths = jnp.array([5, 2, 1])
    attention = pooling.AttentionPooling(4, 3)
    params = attention.init(key)
    padded = _pad(ys, extra)
    for pool in (pooling.masked_mean, pooling.masked_max, pooling.last, lambda y, n: attention(params, y, n)[0]):
        assert_close(pool(padded, lengths), pool(ys, lengths))


def test_final_output_of_bidirectional_is_forward_last_and_backward_first(key):
    cell = seqjax.Bidirectional(seqjax.GRU(3, 4))
    params = cell.init(key)
    xs = jax.random.normal(jax.random.fold_in(key, 1), (2, 5, 3))
    lengths = jnp.array([5, 3])
    ys, state = seqjax.unroll(cell, params, xs, lengths=lengths)
    summary = pooling.final_output(cell, state)
    for i, n in enumerate([5, 3]):
        assert_close(summary[i], jnp.concatenate([ys[i, n - 1, :4], ys[i, 0, 4:]]))


# --- Kim's CNN -----------------------------------------------------------------------------------------


def kim_loop(x, length, w, b, padding):
    """c_i = ReLU(w · x_{i:i+k-1} + b) over the windows of the sentence (zero-padded by k-1 words on
    both sides for "wide"), then ĉ = max_i c_i; a NumPy loop over windows and filters."""
    k, d, f = w.shape
    sentence = x[:length]
    if padding == "wide":
        sentence = np.concatenate([np.zeros((k - 1, d)), sentence, np.zeros((k - 1, d))])
    windows = [sentence[i: i + k].reshape(-1) for i in range(len(sentence) - k + 1)]
    if not windows:
        return np.zeros(f)
    c = np.array([[max(0.0, window @ w[:, :, j].reshape(-1) + b[j]) for j in range(f)] for window in windows])
    return c.max(0)


@pytest.mark.parametrize("padding", ["wide", "valid"])
@pytest.mark.slow
def test_text_cnn_max_over_time_matches_kims_equations(key, padding):
    cnn = TextCNN(4, (2, 3, 5), feature_maps=3, padding=padding)
    params = cnn.init(key)
    params = jax.tree_util.tree_map(lambda p: p + 0.1 * jax.random.normal(jax.random.fold_in(key, p.size), p.shape), params)
    xs = jax.random.normal(jax.random.fold_in(key, 1), (3, 7, 4))
    lengths = jnp.array([7, 4, 2])
    got = np.asarray(cnn(params, xs, lengths))
    for i, n in enumerate([7, 4, 2]):
        want = np.concatenate([kim_loop(np.asarray(xs[i], np.float64), n, np.asarray(p["w"], np.float64),
                                        np.asarray(p["b"], np.float64), padding) for p in params["convs"]])
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-5)
    assert_close(cnn(params, _pad(xs, 3), lengths), got)  # padding a batch further changes nothing


@pytest.mark.slow
def test_text_cnn_gradients_and_multichannel(key):
    cnn = TextCNN(3, (2, 3), feature_maps=2)
    params = cnn.init(key)
    xs = jax.random.normal(key, (2, 4, 3))
    lengths = jnp.array([4, 2])
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda p: p.astype(jnp.float64), params)
        check_grads(lambda p, x: cnn(p, x, lengths), (p64, xs.astype(jnp.float64)), order=1, modes=["rev"], eps=1e-4)
    # multichannel: each filter reads both channels and the results add (Kim's two-channel model)
    other = jax.random.normal(jax.random.fold_in(key, 2), xs.shape)
    real = (jnp.arange(4)[None, :, None] < lengths[:, None, None])
    for (c, _), k, p in zip(cnn.feature_maps_of(params, (xs, other), lengths), cnn.region_sizes, params["convs"]):
        pad = (k - 1, k - 1)
        want = jax.nn.relu(conv1d(jnp.where(real, xs, 0.0), p["w"], padding=pad) + conv1d(jnp.where(real, other, 0.0), p["w"], padding=pad)
                           + p["b"])
        assert_close(c, want)


def test_region_size_longer_than_the_padded_length_is_a_clear_error(key):
    cnn = TextCNN(3, (3, 6), feature_maps=2, padding="valid")
    with pytest.raises(ValueError, match=r"region size 6 \(dilation 1\) reaches past the padded length 4"):
        cnn(cnn.init(key), jnp.zeros((1, 4, 3)), jnp.array([4]))
    wide = TextCNN(3, (3, 6), feature_maps=2)  # wide convolution: short sentences still have features
    assert wide(wide.init(key), jnp.ones((1, 4, 3)), jnp.array([2])).shape == (1, 4)


# --- max-norm, folds, vectors ------------------------------------------------------------------------


def test_max_norm_holds_after_every_update(key):
    model = Classifier(20, 3, TextCNN(8, (2, 3), feature_maps=4), dropout=0.0)
    optimizer = optax.chain(optax.sgd(5.0), max_norm(0.5, where=lambda path: path == "head/w"))
    state = train.TrainState.create(model.init(key), optimizer, key)
    step = train.make_train_step(model.loss, optimizer)
    rng = np.random.default_rng(0)
    for _ in range(6):
        batch = {"ids": jnp.asarray(rng.integers(1, 20, (8, 5)), jnp.int32), "lengths": jnp.full((8,), 5, jnp.int32),
                 "labels": jnp.asarray(rng.integers(0, 3, 8), jnp.int32)}
        with jax.numpy_dtype_promotion("standard"):
            state, _ = step(state, batch)
        norms = np.linalg.norm(np.asarray(state.params["head"]["w"]), axis=0)
        assert norms.max() <= 0.5 + 1e-5
    assert norms.max() > 0.49  # the constraint was active, not vacuous
    assert np.linalg.norm(np.asarray(state.params["encoder"]["convs"][0]["w"])) > 0.5  # other weights untouched


def test_stratified_folds_partition_and_keep_the_class_balance():
    labels = np.array([0] * 53 + [1] * 47 + [2] * 10)
    folds = labelled.stratified_folds(labels, 10, seed=3)
    assert folds.shape == labels.shape and set(folds) == set(range(10))  # every example in exactly one fold
    for label, total in ((0, 53), (1, 47), (2, 10)):
        counts = np.bincount(folds[labels == label], minlength=10)
        assert counts.max() - counts.min() <= 1 and counts.sum() == total
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 1
    assert not np.array_equal(folds, labelled.stratified_folds(labels, 10, seed=4))
    with pytest.raises(ValueError, match="k must lie in"):
        labelled.stratified_folds(labels, 1)


def test_pretrained_rows_for_a_task_vocabulary_count_found_words_and_keep_their_rows():
    from seqjax.embeddings import Vectors

    vocab = Vocab.build([["good", "bad", "film"]])
    vectors = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    matrix, found = Vectors(["film", "good", "other"], vectors).embedding_matrix(vocab.tokens, seed=0, scale=0.25)
    assert found == 2 and matrix.shape == (len(vocab), 2)
    np.testing.assert_array_equal(matrix[vocab.id("good")], [3.0, 4.0])
    # the words without a vector: U(-0.25, 0.25) from NumPy's generator with the seed, as sentiment's MR numbers were drawn
    want = np.random.default_rng(0).uniform(-0.25, 0.25, (len(vocab), 2)).astype(np.float32)
    np.testing.assert_array_equal(matrix[vocab.id("bad")], want[vocab.id("bad")])


def test_encode_labelled_errors_name_the_example():
    vocab = Vocab.build([["a", "b"]])
    with pytest.raises(ValueError, match="example 1 has an empty text"):
        labelled.encode_labelled(["a b", "   "], [0, 1], vocab, str.split, 2)
    with pytest.raises(ValueError, match="example 0 has label 2, outside the 2 classes"):
        labelled.encode_labelled(["a"], [2], vocab, str.split, 2)


# --- the classifier ----------------------------------------------------------------------------------


ENCODERS = {"gru-final": (seqjax.GRU(6, 5), "final"), "bilstm-max": (seqjax.Bidirectional(seqjax.LSTM(6, 4)), "max"),
            "stack-last": (seqjax.Stack([seqjax.GRU(6, 5), seqjax.GRU(5, 5)]), "last"),
            "gru-mean": (seqjax.GRU(6, 5), "mean"), "lstm-attention": (seqjax.LSTM(6, 5), "attention"),
            "cnn": (TextCNN(6, (2, 3), feature_maps=4), "final"),
            "cnn-gru": (ConvRNN(6, seqjax.GRU(4, 5), feature_maps=4), "max")}


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.slow
def test_classifier_logits_ignore_padding(key, name):
    encoder, pool = ENCODERS[name]
    model = Classifier(30, 3, encoder, pooling=pool, dropout=0.3)
    params = model.init(key)
    ids = jnp.array([[3, 4, 5, 6], [7, 8, 0, 0]], jnp.int32)
    lengths = jnp.array([4, 2])
    padded = jnp.concatenate([ids, jnp.zeros((2, 3), jnp.int32)], axis=1)
    assert_close(model.logits(params, padded, lengths), model.logits(params, ids, lengths))
    assert_close(model.logits(params, ids[1:, :2], lengths[1:]), model.logits(params, ids, lengths)[1:])


def test_classifier_embedding_kinds_and_errors(key):
    vectors = np.asarray(jax.random.normal(key, (30, 6)))
    cnn = TextCNN(6, (2,), feature_maps=3)
    multi = Classifier(30, 2, cnn, embeddings="multichannel")
    params = multi.init(key, pretrained=vectors)
    np.testing.assert_allclose(np.asarray(params["embed_static"]["table"][1:]), vectors[1:])
    static = Classifier(30, 2, cnn, embeddings="static")
    optimizer = train.optimizer(1e-1, clip_norm=None)
    state = train.TrainState.create(static.init(key, pretrained=vectors), optimizer, key)
    batch = {"ids": jnp.array([[1, 2, 3]], jnp.int32), "lengths": jnp.array([3]), "labels": jnp.array([1])}
    with jax.numpy_dtype_promotion("standard"):
        after, _ = train.make_train_step(static.loss, optimizer)(state, batch)
    assert_close(after.params["embed"], state.params["embed"])  # static vectors stay frozen
    with pytest.raises(ValueError, match="needs pretrained="):
        Classifier(30, 2, cnn, embeddings="static").init(key)
    with pytest.raises(ValueError, match="multichannel.*needs a TextCNN"):
        Classifier(30, 2, seqjax.GRU(6, 4), embeddings="multichannel")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        static.loss(state.params, {**batch, "labels": jnp.array([2])})
