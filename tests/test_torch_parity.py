"""from_torch: unroll equals torch.nn.RNN/GRU/LSTM, step their *Cell modules, and the layers equal Linear,
Embedding and LayerNorm, with the same weights, within 1e-5 (float32)."""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

import seqjax

torch = pytest.importorskip("torch", reason="parity tests need the 'test' extra (torch==2.13.0, CPU)")

D, H, B, T = 5, 7, 4, 9
MODULES = {"rnn_tanh": lambda **kw: torch.nn.RNN(D, H, nonlinearity="tanh", **kw),
           "rnn_relu": lambda **kw: torch.nn.RNN(D, H, nonlinearity="relu", **kw),
           "gru": lambda **kw: torch.nn.GRU(D, H, **kw),
           "lstm": lambda **kw: torch.nn.LSTM(D, H, **kw)}
CASES = list(itertools.product(sorted(MODULES), [1, 2], [False, True], [False, True]))


def make(kind, num_layers, bidirectional, batch_first, bias=True):
    torch.manual_seed(0)
    return MODULES[kind](num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias).eval()


def torch_states(final):
    return tuple(t.detach().numpy() for t in final) if isinstance(final, tuple) else final.detach().numpy()


def run_torch(module, xs):
    """xs: batch-major numpy; returns batch-major outputs and torch's final states."""
    x = torch.from_numpy(xs)
    if not module.batch_first:
        x = x.transpose(0, 1)
    with torch.no_grad():
        out, final = module(x)
    out = out if module.batch_first else out.transpose(0, 1)
    return out.numpy(), torch_states(final)


@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first", CASES)
def test_full_length_parity(kind, num_layers, bidirectional, batch_first):
    module = make(kind, num_layers, bidirectional, batch_first)
    xs = np.random.default_rng(0).normal(size=(B, T, D)).astype(np.float32)
    want_out, want_final = run_torch(module, xs)
    cell, params = seqjax.from_torch(module)
    ys, state = seqjax.unroll(cell, params, jnp.asarray(xs))
    np.testing.assert_allclose(ys, want_out, atol=1e-5, rtol=1e-5)
    got_final = seqjax.torch_final_state(state)
    for got, want in zip(jax_tuple(got_final), jax_tuple(want_final)):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def jax_tuple(x):
    return x if isinstance(x, tuple) else (x,)


@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first", CASES)
def test_variable_length_parity_with_pack_padded_sequence(kind, num_layers, bidirectional, batch_first):
    module = make(kind, num_layers, bidirectional, batch_first)
    xs = np.random.default_rng(1).normal(size=(B, T, D)).astype(np.float32)
    lengths = np.array([T, 3, 6, 1])
    x = torch.from_numpy(xs if batch_first else xs.transpose(1, 0, 2).copy())
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(lengths), batch_first=batch_first, enforce_sorted=False)
    with torch.no_grad():
        out, final = module(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    cell, params = seqjax.from_torch(module)
    ys, state = seqjax.unroll(cell, params, jnp.asarray(xs), lengths=jnp.asarray(lengths))
    np.testing.assert_allclose(ys, out.numpy(), atol=1e-5, rtol=1e-5)
    for got, want in zip(jax_tuple(seqjax.torch_final_state(state)), jax_tuple(torch_states(final))):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_parity_without_bias(kind):
    module = make(kind, 1, False, True, bias=False)
    xs = np.random.default_rng(2).normal(size=(B, T, D)).astype(np.float32)
    cell, params = seqjax.from_torch(module)
    np.testing.assert_allclose(seqjax.unroll(cell, params, jnp.asarray(xs))[0], run_torch(module, xs)[0], atol=1e-5, rtol=1e-5)


def test_cell_types_and_dropout_rate():
    cell, params = seqjax.from_torch(torch.nn.GRU(D, H, num_layers=3, dropout=0.25))
    assert isinstance(cell, seqjax.Stack) and cell.dropout == 0.25 and len(params) == 3
    assert all(isinstance(layer, seqjax.GRU) and layer.reset_after for layer in cell.layers)
    cell, _ = seqjax.from_torch(torch.nn.LSTM(D, H, bidirectional=True))
    assert isinstance(cell, seqjax.Bidirectional) and cell.output_dim == 2 * H


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_cell_module_parity(kind):
    torch.manual_seed(0)
    module = {"rnn": torch.nn.RNNCell, "gru": torch.nn.GRUCell, "lstm": torch.nn.LSTMCell}[kind](D, H)
    cell, params = seqjax.from_torch(module)
    x, h, c = (torch.randn(B, n) for n in (D, H, H))
    if kind == "lstm":
        want = [t.detach().numpy() for t in module(x, (h, c))]
        state, y = cell.step(params, seqjax.LSTMState(jnp.asarray(h.numpy()), jnp.asarray(c.numpy())), jnp.asarray(x.numpy()))
        got = [state.h, state.c]
    else:
        want = [module(x, h).detach().numpy()]
        state, y = cell.step(params, seqjax.RNNState(jnp.asarray(h.numpy())), jnp.asarray(x.numpy()))
        got = [state.h]
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-5)


def test_linear_embedding_layer_norm():
    torch.manual_seed(0)
    for module, x in ((torch.nn.Linear(D, H), torch.randn(B, T, D)), (torch.nn.Linear(D, H, bias=False), torch.randn(B, D)),
                      (torch.nn.Embedding(9, D, padding_idx=2), torch.tensor([[1, 2, 8], [2, 0, 3]])),
                      (torch.nn.LayerNorm(D, eps=1e-3), 3 + 2 * torch.randn(B, D))):
        layer, params = seqjax.from_torch(module)
        np.testing.assert_allclose(np.asarray(layer(params, jnp.asarray(x.numpy()))), module(x).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert seqjax.from_torch(torch.nn.Embedding(9, D, padding_idx=2))[0].padding_id == 2


def test_unsupported_modules_are_named():
    with pytest.raises(TypeError, match="got Conv1d"):
        seqjax.from_torch(torch.nn.Conv1d(2, 3, 3))
    with pytest.raises(NotImplementedError, match="proj_size"):
        seqjax.from_torch(torch.nn.LSTM(D, H, proj_size=3))


# --- to_torch: the reverse ---------------------------------------------------------------------------

SEQJAX_CELLS = {"elman_tanh": seqjax.Elman(D, H), "elman_relu": seqjax.Elman(D, H, activation="relu"),
                "gru": seqjax.GRU(D, H, reset_after=True), "lstm": seqjax.LSTM(D, H)}


@pytest.mark.parametrize("kind,num_layers,bidirectional", list(itertools.product(sorted(SEQJAX_CELLS), [1, 2], [False, True])))
def test_to_torch_computes_the_same_and_round_trips(kind, num_layers, bidirectional):
    import jax

    base = SEQJAX_CELLS[kind]
    width = H * (2 if bidirectional else 1)

    def layer(input_size):
        cell = type(base)(input_size, H, **({"activation": base.activation} if kind.startswith("elman") else
                                            {"reset_after": True} if kind == "gru" else {}))
        return seqjax.Bidirectional(cell) if bidirectional else cell

    cell = layer(D) if num_layers == 1 else seqjax.Stack(tuple(layer(D if i == 0 else width) for i in range(num_layers)))
    params = cell.init(jax.random.key(3))
    module = seqjax.to_torch(cell, params).eval()
    assert module.batch_first and module.num_layers == num_layers and module.bidirectional == bidirectional
    xs = np.random.default_rng(0).normal(size=(B, T, D)).astype(np.float32)
    ys, state = seqjax.unroll(cell, params, jnp.asarray(xs))
    out, final = run_torch(module, xs)
    np.testing.assert_allclose(np.asarray(ys), out, rtol=1e-5, atol=1e-5)
    expected = seqjax.torch_final_state(state)
    for got, want in zip(final if isinstance(final, tuple) else (final,), expected if isinstance(expected, tuple) else (expected,)):
        np.testing.assert_allclose(np.asarray(want), got, rtol=1e-5, atol=1e-5)
    again, again_params = seqjax.from_torch(module)  # seqjax -> torch -> seqjax gives the same outputs
    np.testing.assert_allclose(np.asarray(seqjax.unroll(again, again_params, jnp.asarray(xs))[0]), np.asarray(ys), rtol=1e-5, atol=1e-5)


def test_to_torch_layers_and_what_pytorch_cannot_hold():
    import jax

    for layer, x in ((seqjax.Dense(D, H), np.ones((B, D), np.float32)), (seqjax.Embedding(9, D, padding_id=2), np.array([[1, 2, 8]])),
                     (seqjax.LayerNorm(D, eps=1e-3), 3 + np.arange(B * D, dtype=np.float32).reshape(B, D))):
        params = layer.init(jax.random.key(0))
        if isinstance(layer, seqjax.LayerNorm):
            params = {"scale": jnp.linspace(0.5, 2.0, D), "bias": jnp.linspace(-1.0, 1.0, D)}
        module = seqjax.to_torch(layer, params)
        np.testing.assert_allclose(module(torch.from_numpy(x)).detach().numpy(), np.asarray(layer(params, jnp.asarray(x))),
                                   rtol=1e-5, atol=1e-5)
    assert seqjax.to_torch(seqjax.Embedding(9, D, padding_id=2), seqjax.Embedding(9, D, padding_id=2).init(jax.random.key(0))).padding_idx == 2
    for cell, why in ((seqjax.GRU(D, H), "reset after the recurrent matmul"), (seqjax.PeepholeLSTM(D, H), "no recurrent module for PeepholeLSTM"),
                      (seqjax.Stack((seqjax.LSTM(D, H), seqjax.LSTM(H, H)), residual_from=0), "no residual connections"),
                      (seqjax.Bidirectional(seqjax.LSTM(D, H), merge="sum"), "concatenates the two directions"),
                      (seqjax.Stack((seqjax.LSTM(D, H), seqjax.GRU(H, H, reset_after=True))), "one kind of cell")):
        with pytest.raises(TypeError, match=why):
            seqjax.to_torch(cell, cell.init(jax.random.key(0)))
