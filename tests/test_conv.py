"""seqjax.sequences.conv's 1-D convolution against torch.nn.functional.conv1d over a grid of shapes (stride,
dilation, groups, "valid" / "same" / int / (before, after) padding), values and gradients, and the
layers that use it (TextCNN, ConvRNN) against PyTorch run on each sentence alone."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import seqjax
from seqjax.sequences.conv import ConvRNN, TextCNN, conv1d, conv_length

torch = pytest.importorskip("torch", reason="the conv1d grid compares with torch (the 'test' extra)")
F = torch.nn.functional


def torch_conv1d(x, w, b, stride, padding, dilation, groups):
    """PyTorch's conv1d on batch-major NumPy arrays; a pair (before, after) pads with F.pad first."""
    xt = (x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x))).permute(0, 2, 1)
    if isinstance(padding, tuple):
        xt, padding = F.pad(xt, padding), 0
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(2, 1, 0)))  # ours [k, d/g, f] -> torch [f, d/g, k]
    return xt, wt, dict(bias=torch.from_numpy(np.array(b)), stride=stride, padding=padding, dilation=dilation, groups=groups)


GRID = list(itertools.product([1, 3, 4], [1, 2], [1, 2], ["valid", "same", 2, (1, 3)]))  # taps, dilation, groups, padding
SHAPES = [(9, 4, 6), (12, 6, 4), (5, 2, 2)]  # time, channels, features: taken in turn along the grid


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.slow
def test_conv1d_values_and_gradients_equal_torch_over_a_grid(stride):
    rng = np.random.default_rng(stride)
    for index, (k, dilation, groups, padding) in enumerate(GRID):
        t, d, f = SHAPES[index % len(SHAPES)]
        if (padding == "same" and stride > 1) or conv_length(t, k, padding, stride=stride, dilation=dilation) == 0:
            continue  # PyTorch refuses "same" with a stride, as seqjax does; a kernel longer than the input is an error (tested below)
        what = f"k={k} stride={stride} dilation={dilation} groups={groups} padding={padding}"
        x = rng.normal(size=(2, t, d)).astype(np.float32)
        w = rng.normal(size=(k, d // groups, f)).astype(np.float32)
        b = rng.normal(size=(f,)).astype(np.float32)
        kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        y, vjp = jax.vjp(lambda x, w, b: conv1d(x, w, b, **kw), jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))
        assert y.shape[1] == conv_length(t, k, padding, stride=stride, dilation=dilation), what
        cotangent = rng.normal(size=y.shape).astype(np.float32)
        gx, gw, gb = vjp(jnp.asarray(cotangent))

        x_leaf = torch.from_numpy(x).requires_grad_()
        xt, wt, options = torch_conv1d(x_leaf, w, b, stride, padding, dilation, groups)
        wt.requires_grad_()
        options["bias"].requires_grad_()
        want = F.conv1d(xt, wt, **options).permute(0, 2, 1)
        (want * torch.from_numpy(cotangent)).sum().backward()
        np.testing.assert_allclose(np.asarray(y), want.detach().numpy(), rtol=1e-4, atol=1e-4, err_msg=what)
        np.testing.assert_allclose(np.asarray(gx), x_leaf.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=what)
        np.testing.assert_allclose(np.asarray(gw), wt.grad.numpy().transpose(2, 1, 0), rtol=1e-4, atol=1e-4, err_msg=what)
        np.testing.assert_allclose(np.asarray(gb), options["bias"].grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=what)


def test_conv1d_gradients_by_finite_differences():
    key = jax.random.key(0)
    x = jax.random.normal(key, (2, 11, 4), jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    with jax.enable_x64(True):
        x = jnp.asarray(np.asarray(x), jnp.float64)
        w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 2, 6)))
        b = jnp.asarray(np.random.default_rng(2).normal(size=(6,)))
        check_grads(lambda x, w, b: conv1d(x, w, b, stride=2, padding=(2, 1), dilation=2, groups=2), (x, w, b), order=2,
                    modes=["fwd", "rev"], eps=1e-4)


def text_cnn_oracle(cnn, params, xs, lengths):
    """Each sentence alone, at its own length, through PyTorch: the layer's max over time must not
    depend on padding, so this is what it owes."""
    out = []
    for x, n in zip(np.asarray(xs), np.asarray(lengths)):
        features = []
        for k, p in zip(cnn.region_sizes, params["convs"]):
            xt, wt, options = torch_conv1d(x[None, :n], np.asarray(p["w"]), np.asarray(p["b"]), cnn.stride,
                                           seqjax.sequences.conv.conv_padding(cnn.padding, k, stride=cnn.stride, dilation=cnn.dilation),
                                           cnn.dilation, cnn.groups)
            c = torch.relu(F.conv1d(xt, wt, **options))[0] if xt.shape[-1] >= cnn.dilation * (k - 1) + 1 else torch.zeros(0)
            features.append(c.amax(-1).numpy() if c.numel() else np.zeros(cnn.feature_maps, np.float32))
        out.append(np.concatenate(features))
    return np.stack(out)


@pytest.mark.parametrize("padding,stride,dilation,groups", [("wide", 1, 1, 1), ("valid", 2, 1, 2), ("same", 1, 2, 1),
                                                            (1, 3, 2, 2), ((2, 0), 2, 1, 1), ("wide", 2, 3, 2)])
@pytest.mark.slow
def test_text_cnn_with_every_convolution_option_equals_each_sentence_alone(padding, stride, dilation, groups):
    cnn = TextCNN(4, (2, 3), feature_maps=4, padding=padding, stride=stride, dilation=dilation, groups=groups)
    key = jax.random.key(3)
    params = jax.tree_util.tree_map(lambda p: p + 0.1 * jax.random.normal(jax.random.fold_in(key, p.size), p.shape), cnn.init(key))
    xs = jax.random.normal(jax.random.fold_in(key, 1), (3, 11, 4))
    lengths = jnp.array([11, 7, 5])
    got = cnn(params, xs, lengths)
    np.testing.assert_allclose(np.asarray(got), text_cnn_oracle(cnn, params, xs, lengths), rtol=1e-5, atol=1e-5)
    padded = jnp.concatenate([xs, jnp.full((3, 4, 4), 7.0)], axis=1)  # garbage past each sentence, further padding
    np.testing.assert_allclose(np.asarray(cnn(params, padded, lengths)), np.asarray(got), rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_conv_rnn_with_a_stride_reads_only_its_sentences_windows():
    model = ConvRNN(4, seqjax.GRU(6, 5), region_size=3, feature_maps=6, padding=1, stride=2, dilation=1, groups=2)
    params = model.init(jax.random.key(0))
    xs, lengths = jax.random.normal(jax.random.key(1), (3, 10, 4)), jnp.array([10, 6, 3])
    ys, state = model(params, xs, lengths)
    assert ys.shape[1] == conv_length(10, 3, 1, stride=2)
    padded = jnp.concatenate([xs, jnp.ones((3, 5, 4))], axis=1)
    ys2, state2 = model(params, padded, lengths)
    np.testing.assert_allclose(np.asarray(state2.h), np.asarray(state.h), rtol=1e-6, atol=1e-6)
    for row, n in enumerate([10, 6, 3]):  # the sentence alone gives the same final state
        _, alone = model(params, xs[row:row + 1, :n], jnp.array([n]))
        np.testing.assert_allclose(np.asarray(alone.h[0]), np.asarray(state.h[row]), rtol=1e-5, atol=1e-6)


def test_conv_options_that_cannot_work_name_the_argument():
    x, w = jnp.ones((1, 6, 4)), jnp.ones((3, 2, 4))
    cases = [(dict(stride=0), "conv1d's stride must be an int >= 1"), (dict(dilation=1.5), "conv1d's dilation must be an int"),
             (dict(groups=3), "groups=3"), (dict(padding="full"), "conv1d's padding must be"),
             (dict(padding=(1, -1)), "conv1d's padding must be"), (dict(padding="same", stride=2), "padding='same' needs stride=1"),
             (dict(groups=2, dilation=3), "reaches 7 steps, more than the 6")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            conv1d(x, w, groups=kwargs.pop("groups", 2), **kwargs)
    with pytest.raises(ValueError, match=r"TextCNN.groups \(3\) must divide input_size \(4\)"):
        TextCNN(4, (2,), feature_maps=6, groups=3)
    with pytest.raises(ValueError, match="TextCNN.padding: conv1d's padding='same' needs stride=1"):
        TextCNN(4, (2,), padding="same", stride=2)
    with pytest.raises(ValueError, match="ConvRNN.stride must be a positive int"):
        ConvRNN(4, seqjax.GRU(6, 5), feature_maps=6, stride=0)
