"""``unroll(..., cudnn=True)``: seqjax's LSTM on cuDNN's kernel (``seqjax.kernels.cudnn``).

``jax.experimental.rnn.lstm`` (the cuDNN call) has no CPU kernel. On the CPU these tests run
everything around it (the weight packing, the lengths, the initial state, the gradients through
the packing, the wrappers' dispatch) with JAX's reference LSTM on unpacked weights
(``jax.experimental.rnn.lstm_ref``, the same contract) standing in for the kernel, and compare
with seqjax's own LSTM. ``test_cudnn_kernel_on_gpu`` runs the kernel itself where a GPU is lent.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import rnn

import seqjax
from seqjax import cudnn
from tests.conftest import assert_close


def reference_lstm(x, h_0, c_0, weights, seq_lengths, *, input_size, hidden_size, num_layers, dropout, bidirectional):
    """``rnn.lstm``'s signature (flat cuDNN weights) over ``rnn.lstm_ref`` (unpacked weights)."""
    unpacked = rnn.unpack_lstm_weights(weights, input_size, hidden_size, num_layers, bidirectional)
    return rnn.lstm_ref(x, h_0, c_0, *unpacked, seq_lengths, input_size, hidden_size, num_layers, dropout, bidirectional)


@pytest.fixture
def stand_in(monkeypatch):
    """cuDNN "available", with the reference LSTM as its kernel; ``calls`` counts the kernel's calls
    (per trace), so a test can tell that the cuDNN path ran and did not fall back to XLA's loop."""
    calls = []

    def counted(x, h_0, c_0, weights, seq_lengths, **kwargs):
        calls.append(kwargs["hidden_size"])
        if not isinstance(seq_lengths, jax.core.Tracer):  # seqjax gives cuDNN lengths in [1, t] only
            assert seq_lengths.dtype == jnp.int32 and 1 <= int(seq_lengths.min()) <= int(seq_lengths.max()) <= x.shape[1]
        return reference_lstm(x, h_0, c_0, weights, seq_lengths, **kwargs)

    monkeypatch.setattr(cudnn, "available", lambda: True)
    monkeypatch.setattr(cudnn, "kernel", lambda: counted)
    return calls


def loss(cell, use_cudnn, lengths, reverse=False):
    def f(params, xs, state):
        ys, final = seqjax.unroll(cell, params, xs, lengths=lengths, initial_state=state, reverse=reverse, options=seqjax.ScanOptions(cudnn=use_cudnn))
        weights = jnp.linspace(-1.0, 1.0, ys.shape[-1])
        return jnp.sum(ys ** 2 * weights) + sum(jnp.sum(jnp.sin(s)) for s in jax.tree_util.tree_leaves(final))
    return f


def setup(cell, key, b=3, t=7):
    k1, k2, k3 = jax.random.split(key, 3)
    state = jax.tree_util.tree_map(lambda s: 0.5 * jax.random.normal(k3, s.shape), cell.initial_state(b))
    return cell.init(k1), jax.random.normal(k2, (b, t, cell.input_size)), state


def test_pack_is_jaxs_cudnn_layout(key):
    cell = seqjax.LSTM(4, 5)
    params = cell.init(key)
    weights = cudnn.pack(params)
    assert weights.shape == (rnn.get_num_params_in_lstm(4, 5, 1, False),)
    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, 4, 5, 1, False)
    # PyTorch's layout: W_ih [4h, d] is wxᵀ, gates i, f, g, o in both
    assert_close((w_ih[0], w_hh[0], b_ih[0], b_hh[0]), (params["wx"].T, params["wh"].T, params["b"], jnp.zeros(20)))


@pytest.mark.parametrize("reverse", [False, True])
def test_cudnn_path_equals_seqjax_lstm_values_and_gradients(stand_in, key, reverse):
    cell = seqjax.LSTM(4, 5)
    args = setup(cell, key)
    value, grads = jax.value_and_grad(loss(cell, True, None, reverse), argnums=(0, 1, 2))(*args)
    assert stand_in, "the cuDNN path did not run"
    want_value, want_grads = jax.value_and_grad(loss(cell, False, None, reverse), argnums=(0, 1, 2))(*args)
    assert_close(value, want_value)
    assert_close(grads, want_grads)


@pytest.mark.parametrize("lengths", [[7, 3, 0], 4])
def test_lengths_keep_xlas_loop(stand_in, key, lengths):
    """With lengths cuDNN's gradients were wrong on an H200 (seqjax.kernels.cudnn): XLA's loop runs."""
    cell = seqjax.LSTM(4, 5)
    params, xs, state = setup(cell, key)
    if isinstance(lengths, int):  # a single sequence [t, d], its length a scalar
        xs, state = xs[0], jax.tree.map(lambda s: s[0], state)
    lengths = jnp.array(lengths)
    got = jax.value_and_grad(loss(cell, True, lengths), argnums=(0, 1, 2))(params, xs, state)
    assert stand_in == []
    assert_close(got, jax.value_and_grad(loss(cell, False, lengths), argnums=(0, 1, 2))(params, xs, state))


def test_cudnn_unbatched_sequence(stand_in, key):
    cell = seqjax.LSTM(4, 5)
    params, xs, _ = setup(cell, key)
    got = seqjax.unroll(cell, params, xs[0], options=seqjax.ScanOptions(cudnn=True))  # a single sequence [t, d]
    assert_close(got, seqjax.unroll(cell, params, xs[0]))
    assert len(stand_in) == 1


@pytest.mark.slow
def test_cudnn_in_wrappers_and_fallbacks(stand_in, key):
    """LSTM layers inside Stack/Bidirectional run on cuDNN; the GRU layer, a bfloat16 LSTM, a
    non-tanh LSTM and the same stack with lengths keep XLA's loop, with the same results."""
    cell = seqjax.Stack((seqjax.Bidirectional(seqjax.LSTM(4, 5)), seqjax.GRU(10, 6), seqjax.LSTM(6, 3)))
    params, xs, state = setup(cell, key)

    def gradients(use_cudnn, lengths):  # under jit, with the lengths traced as in a training step
        step = jax.jit(lambda p, x, s, n: jax.value_and_grad(loss(cell, use_cudnn, n), argnums=(0, 1))(p, x, s))
        return step(params, xs, state, lengths)

    got = gradients(True, None)
    assert sorted(stand_in) == [3, 5, 5]  # both directions of the first layer and the last layer
    assert_close(got, gradients(False, None))

    stand_in.clear()
    assert_close(gradients(True, jnp.array([7, 2, 5])), gradients(False, jnp.array([7, 2, 5])))
    assert stand_in == []

    stand_in.clear()
    for lstm, dtype in ((seqjax.LSTM(4, 5), jnp.bfloat16), (seqjax.LSTM(4, 5, activation="relu"), jnp.float32)):
        p, x, _ = setup(lstm, key)
        ys, _ = seqjax.unroll(lstm, p, x.astype(dtype), options=seqjax.ScanOptions(cudnn=True))
        assert_close(ys.astype(jnp.float32), seqjax.unroll(lstm, p, x.astype(dtype))[0].astype(jnp.float32))
    assert stand_in == []


@pytest.mark.parametrize("precision, runs", [("tensorfloat32", 1), ("float32", 1), ("bfloat16", 0), ("default", 0), ("F32_F32_F32", 0)])
def test_cudnn_only_under_a_matmul_precision_it_has(stand_in, key, precision, runs):
    """cuDNN's LSTM has one precision switch, TF32 or not. Under bfloat16 passes (where
    ``jax.experimental.rnn`` raises) or a dot algorithm (which it ignores) the LSTM keeps XLA's loop."""
    cell = seqjax.LSTM(4, 5)
    params, xs, _ = setup(cell, key)
    with jax.default_matmul_precision(precision):
        got = jax.jit(lambda p, x: seqjax.unroll(cell, p, x, options=seqjax.ScanOptions(cudnn=True))[0])(params, xs)
        want = jax.jit(lambda p, x: seqjax.unroll(cell, p, x)[0])(params, xs)
    assert len(stand_in) == runs
    # XLA's loop under the same precision. On the CPU every precision is float32; on a GPU, TF32 and
    # bfloat16 passes round differently in the two programs.
    tol = 2e-5 if precision == "float32" or jax.default_backend() == "cpu" else 2e-2
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=tol, atol=tol)


@pytest.mark.slow
def test_char_lm_trains_and_evaluates_on_the_cudnn_path(stand_in, tmp_path):
    from experiments import char_lm
    from tests.test_checkpoint import _text

    config = char_lm.Config(data=str(_text(tmp_path)), out_dir=str(tmp_path / "run"), steps=4, hidden=8, embed=4, batch=2,
                            window=5, log_every=2, eval_every=0, eval_windows=1, sample_chars=3, cudnn=True, warmup_steps=0)
    with jax.numpy_dtype_promotion("standard"):
        result = char_lm.main(config)
    assert np.isfinite(result["eval"]["loss_bits"])
    assert len(stand_in) >= 2  # traced in the training step and in the evaluation


ON_GPU = jax.default_backend() == "gpu"


@pytest.mark.skipif(ON_GPU, reason="the error is for machines without a GPU")
def test_cudnn_without_a_gpu_is_a_clear_error(key, tmp_path):
    from experiments import char_lm

    cell = seqjax.LSTM(4, 5)
    with pytest.raises(ValueError, match=r"ScanOptions\(cudnn=True\) needs a CUDA GPU with cuDNN; JAX's backend here is 'cpu'"):
        seqjax.unroll(cell, cell.init(key), jnp.ones((2, 3, 4)), options=seqjax.ScanOptions(cudnn=True))
    with pytest.raises(SystemExit, match=r"error: --cudnn=true needs a CUDA GPU with cuDNN; JAX's backend here is 'cpu'"):
        char_lm.main(char_lm.Config(cudnn=True, out_dir=str(tmp_path / "run")))


@pytest.mark.skipif(not ON_GPU, reason="needs a CUDA GPU with cuDNN: jax.experimental.rnn.lstm has no CPU kernel")
@pytest.mark.parametrize("layers", ["lstm", "stack"])
def test_cudnn_kernel_on_gpu(key, layers):
    """The cuDNN kernel itself against seqjax's XLA loop (one layer, and a bidirectional layer under
    a second LSTM: three kernel calls in one program) and against JAX's reference LSTM."""
    assert cudnn.available(), "a GPU, but seqjax.cudnn.available() is False: has jax.experimental.rnn changed?"
    cell = seqjax.LSTM(24, 32) if layers == "lstm" else seqjax.Stack((seqjax.Bidirectional(seqjax.LSTM(24, 16)), seqjax.LSTM(32, 32)))
    args = setup(cell, key, b=4, t=40)
    # cuDNN sums in its own order: float32 rounding over 40 steps, not the 2e-5 of two XLA programs;
    # a wrong weight layout or gate order is off by O(1)
    def close(a, b):
        jax.tree.map(lambda u, v: np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-4, atol=1e-4), a, b)

    close(jax.jit(jax.value_and_grad(loss(cell, True, None), argnums=(0, 1, 2)))(*args),
          jax.value_and_grad(loss(cell, False, None), argnums=(0, 1, 2))(*args))
    if layers == "lstm":
        full = jnp.full((4,), 40, jnp.int32)
        x, h0, c0 = args[1], args[2].h[None], args[2].c[None]
        kwargs = dict(input_size=24, hidden_size=32, num_layers=1, dropout=0.0, bidirectional=False)
        close(rnn.lstm(x, h0, c0, cudnn.pack(args[0]), full, **kwargs), reference_lstm(x, h0, c0, cudnn.pack(args[0]), full, **kwargs))
