"""Layers, masks and losses against formulas written out and against PyTorch with the same weights."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import seqjax
from seqjax import train
from seqjax.layers import Dense, Dropout, Embedding, LayerNorm
from tests.conftest import assert_close


def test_dense_is_x_w_plus_b_over_any_leading_axes(key):
    layer = Dense(3, 5, activation="tanh")
    params = layer.init(key)
    assert jax.tree_util.tree_map(jnp.shape, params) == {"w": (3, 5), "b": (5,)}
    x = jax.random.normal(key, (2, 4, 3))
    want = np.tanh(np.einsum("btd,do->bto", np.asarray(x, np.float64), np.asarray(params["w"], np.float64)) + np.asarray(params["b"]))
    assert_close(layer(params, x), want)
    assert_close(layer(params, x[0, 0]), want[0, 0])  # no batch axis
    assert "b" not in Dense(3, 5, use_bias=False).init(key)


def test_dense_matches_torch_linear():
    torch.manual_seed(0)
    linear = torch.nn.Linear(6, 4)
    params = {"w": jnp.asarray(linear.weight.detach().numpy().T), "b": jnp.asarray(linear.bias.detach().numpy())}
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    assert_close(Dense(6, 4)(params, jnp.asarray(x)), linear(torch.from_numpy(x)).detach().numpy())


def test_dense_errors(key):
    with pytest.raises(ValueError, match="Dense.out_features must be a positive int"):
        Dense(3, 0)
    with pytest.raises(ValueError, match="Dense.kernel_init must be one of"):
        Dense(3, 4, kernel_init="orthogonal?")
    with pytest.raises(ValueError, match=r"expects inputs \[..., 3\], got shape \(2, 4\)"):
        Dense(3, 4)(Dense(3, 4).init(key), jnp.ones((2, 4)))


def test_embedding_padding_row_is_zero_and_gets_no_gradient(key):
    embed = Embedding(10, 4, padding_id=0)
    params = embed.init(key)
    assert np.all(np.asarray(params["table"][0]) == 0) and np.all(np.asarray(params["table"][1:]) != 0)
    ids = jnp.array([[3, 0, 5], [0, 0, 9]])
    xs = embed(params, ids)
    assert_close(xs[0, 0], params["table"][3])
    assert np.all(np.asarray(xs[ids == 0]) == 0)
    # even a table whose padding row was changed by hand gives zeros there, and no gradient reaches it
    poked = {"table": params["table"].at[0].set(7.0)}
    assert np.all(np.asarray(embed(poked, ids)[ids == 0]) == 0)
    grads = jax.grad(lambda p: jnp.sum(embed(p, ids) ** 2))(poked)
    assert np.all(np.asarray(grads["table"][0]) == 0) and np.any(np.asarray(grads["table"][3]) != 0)


def test_embedding_matches_torch_with_padding_idx():
    torch.manual_seed(0)
    module = torch.nn.Embedding(12, 5, padding_idx=0)
    ids = np.array([[1, 0, 11], [4, 4, 0]])
    embed = Embedding(12, 5, padding_id=0)
    params = embed.init(jax.random.key(0), pretrained=module.weight.detach().numpy())
    assert_close(embed(params, jnp.asarray(ids)), module(torch.from_numpy(ids)).detach().numpy())


def test_embedding_pretrained_frozen_and_tied(key):
    table = np.arange(20, dtype=np.float32).reshape(5, 4)
    embed = Embedding(5, 4, padding_id=None, trainable=False)
    params = embed.init(key, pretrained=table)
    assert_close(params["table"], table)
    assert np.all(np.asarray(jax.grad(lambda p: jnp.sum(embed(p, jnp.array([1, 2]))))(params)["table"]) == 0)
    ys = jnp.ones((2, 3, 4))
    assert_close(embed.attend(params, ys), np.ones((2, 3, 4)) @ table.T)
    with pytest.raises(ValueError, match=r"pretrained must have shape \[vocab_size, features\] = \[5, 4\], got \(4, 4\)"):
        embed.init(key, pretrained=table[:4])
    with pytest.raises(ValueError, match="pretrained holds NaN"):
        embed.init(key, pretrained=np.full((5, 4), np.nan, np.float32))


def test_embedding_errors(key):
    embed = Embedding(5, 4)
    params = embed.init(key)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\) \(the vocabulary\), got values in \[0, 7\]"):
        embed(params, jnp.array([0, 7]))
    with pytest.raises(TypeError, match="ids must be integer token ids"):
        embed(params, jnp.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="padding_id must be an id in"):
        Embedding(5, 4, padding_id=5)
    with pytest.raises(ValueError, match=r"params\['table'\] has shape \(6, 4\)"):
        embed({"table": jnp.zeros((6, 4))}, jnp.array([1]))


def test_freeze_keeps_frozen_parameters_under_weight_decay(key):
    params = {"embed": {"table": jnp.ones((3, 2))}, "w": jnp.ones((2,))}
    optimizer = train.freeze(optax.adamw(0.1, weight_decay=0.5), lambda path: path.startswith("embed"))
    state = optimizer.init(params)
    grads = {"embed": {"table": jnp.ones((3, 2))}, "w": jnp.ones((2,))}
    with jax.numpy_dtype_promotion("standard"):  # optax mixes dtypes
        updates, _ = optimizer.update(grads, state, params)
    new = optax.apply_updates(params, updates)
    assert np.all(np.asarray(new["embed"]["table"]) == 1) and np.all(np.asarray(new["w"]) < 1)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_layer_norm_matches_torch(dtype):
    torch.manual_seed(0)
    module = torch.nn.LayerNorm(6)
    with torch.no_grad():
        module.weight.normal_(), module.bias.normal_()
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(2, 3, 6)).astype(np.float32)
    ln = LayerNorm(6)
    params = {"scale": jnp.asarray(module.weight.detach().numpy()), "bias": jnp.asarray(module.bias.detach().numpy())}
    got = ln(params, jnp.asarray(x).astype(dtype))
    assert got.dtype == jnp.dtype(dtype)
    assert_close(got.astype(jnp.float32), module(torch.from_numpy(x)).detach().numpy(), dtype)


def test_dropout_needs_a_key_and_is_inverted(key):
    drop = Dropout(0.25)
    x = jnp.ones((200, 100))
    assert drop(x) is x
    y = drop(x, key=key)
    kept = np.asarray(y) != 0
    assert 0.7 < kept.mean() < 0.8 and np.allclose(np.asarray(y)[kept], 1 / 0.75)
    assert np.array_equal(np.asarray(drop(x, key=key)), np.asarray(y))  # the key decides
    channels = Dropout(0.5, broadcast_axes=(0,))(x, key=key)
    assert np.all(np.asarray(channels) == np.asarray(channels)[:1])  # one mask shared along axis 0
    with pytest.raises(ValueError, match=r"Dropout.rate must be a float in \[0, 1\)"):
        Dropout(1.0)


def test_sequence_mask_works_under_jit():
    mask = jax.jit(seqjax.sequence_mask, static_argnums=1)(jnp.array([3, 0, 4]), 4)
    assert np.array_equal(np.asarray(mask), [[1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]])


@pytest.mark.slow
def test_cross_entropy_with_lengths_ignore_id_and_smoothing(key):
    logits = jax.random.normal(key, (2, 4, 7))
    labels = jnp.array([[1, 2, 0, 0], [3, -100, 5, 6]])
    lengths = jnp.array([2, 4])
    log_p = np.asarray(jax.nn.log_softmax(logits), np.float64)
    picked = [(0, 0), (0, 1), (1, 0), (1, 2), (1, 3)]  # within lengths, and not the ignored -100
    nll = -np.array([log_p[b, t, labels[b, t]] for b, t in picked])
    loss, sums = jax.jit(lambda *a: train.cross_entropy(*a, lengths=lengths, ignore_id=-100))(logits, labels)
    assert float(sums["count"]) == 5 and np.isclose(float(loss), nll.mean(), rtol=1e-6)
    # padding id 0 as ignore_id instead of lengths: the same positions of row 0
    _, sums_pad = train.cross_entropy(logits[:1], labels[:1], ignore_id=0)
    assert float(sums_pad["count"]) == 2
    # label smoothing: optax's smoothed targets; sums keep the plain NLL
    eps = 0.1
    smooth, sums_s = train.cross_entropy(logits, labels, lengths=lengths, ignore_id=-100, label_smoothing=eps)
    targets = optax.smooth_labels(jax.nn.one_hot(jnp.clip(labels, 0), 7), eps)
    per = np.asarray(optax.softmax_cross_entropy(logits, targets))
    assert np.isclose(float(smooth), np.mean([per[b, t] for b, t in picked]), rtol=1e-5)
    assert float(sums_s["nll"]) == pytest.approx(float(sums["nll"]))
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        train.cross_entropy(logits, labels, lengths=jnp.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"label_smoothing must lie in \[0, 1\)"):
        train.cross_entropy(logits, labels, label_smoothing=1.0)
