"""The converters' audit, argument by argument: every constructor argument of every PyTorch module
``from_torch`` takes, and every field of every seqjax object ``to_torch`` takes, is either converted
exactly (outputs within 1e-5 in float32, in evaluation mode, with the setting carried where seqjax
has it) or refused with an error naming it. The coverage tests read the constructors' signatures
and the dataclasses' fields, so an argument added later cannot be dropped without a test failing."""

import dataclasses
import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax
from seqjax.attention.transformer import FF_ACTIVATIONS

torch = pytest.importorskip("torch", reason="the converter audit needs the 'test' extra (torch==2.13.0, CPU)")
F = torch.nn.functional

D, H, B, T, S, HEADS = 8, 6, 3, 5, 4, 2
LENGTHS, MEMORY_LENGTHS = np.array([5, 2, 4]), np.array([4, 1, 3])


def rng(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def padding(lengths, t):
    return torch.from_numpy(np.arange(t)[None] >= lengths[:, None])


def moved(module):
    """PyTorch starts biases at zero and norm scales at one: move every parameter off its start."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return module.eval()


def close(got, want, lengths=None):
    got, want = np.asarray(got), np.asarray(want)
    if lengths is not None:  # PyTorch keeps values at padded positions, seqjax zeroes them
        got, want = [g[:n] for g, n in zip(got, lengths)], [w[:n] for w, n in zip(want, lengths)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def batch_major(module, x):
    """``x`` from or to the module's layout (a transformer layer keeps the setting in its attention)."""
    module = module.layers[0] if hasattr(module, "layers") else module
    module = getattr(module, "self_attn", module)
    return x if module.batch_first else x.transpose(0, 1)


# --- how each module is run on both sides --------------------------------------------------------


def run_recurrent(module):
    cell, params = seqjax.from_torch(module)
    xs = rng(0, B, T, module.input_size)
    with torch.no_grad():
        out, _ = module(batch_major(module, torch.from_numpy(xs)))
    close(seqjax.unroll(cell, params, jnp.asarray(xs))[0], batch_major(module, out).numpy())
    return cell


def run_cell(module):
    x, h = rng(0, B, module.input_size), rng(1, B, module.hidden_size)
    cell, params = seqjax.from_torch(module)
    with torch.no_grad():
        if isinstance(module, torch.nn.LSTMCell):
            want, _ = module(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(h)))
            state = seqjax.LSTMState(jnp.asarray(h), jnp.asarray(h))
        else:
            want = module(torch.from_numpy(x), torch.from_numpy(h))
            state = seqjax.RNNState(jnp.asarray(h))
    close(cell.step(params, state, jnp.asarray(x))[1], want.numpy())
    return cell


def run_leaf(module):
    layer, params = seqjax.from_torch(module)
    if isinstance(module, torch.nn.Embedding):
        x = torch.tensor([[1, 2, 8], [2, 0, 3]])
    else:
        x = torch.from_numpy(3 + 2 * rng(0, B, module.in_features if isinstance(module, torch.nn.Linear) else D))
    with torch.no_grad():
        close(layer(params, jnp.asarray(x.numpy())), module(x).numpy())
    return layer


def run_attention(module):
    layer, params = seqjax.from_torch(module)
    q, kv = rng(0, B, T, D), rng(1, B, T, module.kdim)
    with torch.no_grad():
        want, _ = module(*(batch_major(module, torch.from_numpy(a)) for a in (q, kv, kv)),
                         key_padding_mask=padding(LENGTHS, T))
    got, _ = layer(params, jnp.asarray(q), jnp.asarray(kv), key_mask=seqjax.sequence_mask(LENGTHS, T))
    close(got, batch_major(module, want).numpy())
    return layer


def run_transformer(module):
    decoder = isinstance(module, (torch.nn.TransformerDecoderLayer, torch.nn.TransformerDecoder))
    x, memory = rng(0, B, T, D), rng(1, B, S, D)
    bm = functools.partial(batch_major, module)
    layer, params = seqjax.from_torch(module)
    with torch.no_grad():
        if decoder:
            want = module(bm(torch.from_numpy(x)), bm(torch.from_numpy(memory)), tgt_is_causal=True,
                          tgt_mask=torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1),
                          tgt_key_padding_mask=padding(LENGTHS, T), memory_key_padding_mask=padding(MEMORY_LENGTHS, S))
            got = layer(params, jnp.asarray(x), jnp.asarray(memory), key_mask=seqjax.sequence_mask(LENGTHS, T),
                        memory_mask=seqjax.sequence_mask(MEMORY_LENGTHS, S))
            got = got[0] if isinstance(got, tuple) else got
        else:
            want = module(bm(torch.from_numpy(x)), src_key_padding_mask=padding(LENGTHS, T))
            got = layer(params, jnp.asarray(x), key_mask=seqjax.sequence_mask(LENGTHS, T))
    close(got, bm(want).numpy(), LENGTHS)
    return layer


def encoder_layer(**kw):
    return torch.nn.TransformerEncoderLayer(D, HEADS, 12, **kw)


def decoder_layer(**kw):
    return torch.nn.TransformerDecoderLayer(D, HEADS, 12, **kw)


def mutate(module, **changes):
    """A module with attributes set by hand after construction (``"norm2.eps"``: a nested one)."""
    for path, value in changes.items():
        *parents, name = path.split("__")
        target = functools.reduce(getattr, parents, module)
        setattr(target, name, value)
    return module


# --- the audit: (argument, how to build a module with it set, the runner, what must hold) ---------
# ``check`` is a function of the converted object (the setting is carried), or a string: the
# conversion is refused with NotImplementedError naming that argument.

FROM_TORCH = {
    torch.nn.LSTM: [
        ("input_size", lambda: torch.nn.LSTM(3, H), run_recurrent, lambda c: c.input_size == 3),
        ("hidden_size", lambda: torch.nn.LSTM(D, 4), run_recurrent, lambda c: c.hidden_size == 4),
        ("num_layers", lambda: torch.nn.LSTM(D, H, num_layers=3), run_recurrent, lambda c: len(c.layers) == 3),
        ("bias", lambda: torch.nn.LSTM(D, H, bias=False), run_recurrent, None),
        ("batch_first", lambda: torch.nn.LSTM(D, H, batch_first=True), run_recurrent, None),
        ("dropout", lambda: torch.nn.LSTM(D, H, num_layers=2, dropout=0.3), run_recurrent, lambda c: c.dropout == pytest.approx(0.3)),
        ("bidirectional", lambda: torch.nn.LSTM(D, H, bidirectional=True), run_recurrent, lambda c: isinstance(c, seqjax.Bidirectional)),
        ("proj_size", lambda: torch.nn.LSTM(D, H, proj_size=3), run_recurrent, "proj_size"),
        ("device", lambda: torch.nn.LSTM(D, H, device="cpu"), run_recurrent, None),
        ("dtype", lambda: torch.nn.LSTM(D, H, dtype=torch.float64), run_recurrent, "dtype"),
    ],
    torch.nn.GRU: [
        ("bias", lambda: torch.nn.GRU(D, H, bias=False), run_recurrent, None),
        ("num_layers", lambda: torch.nn.GRU(D, H, num_layers=2, bidirectional=True, batch_first=True), run_recurrent, None),
        ("dtype", lambda: torch.nn.GRU(D, H, dtype=torch.float16), run_recurrent, "dtype"),
    ],
    torch.nn.RNN: [
        ("nonlinearity", lambda: torch.nn.RNN(D, H, nonlinearity="relu"), run_recurrent, lambda c: c.activation == "relu"),
        ("bias", lambda: torch.nn.RNN(D, H, bias=False), run_recurrent, None),
    ],
    torch.nn.RNNCell: [
        ("nonlinearity", lambda: torch.nn.RNNCell(D, H, nonlinearity="relu"), run_cell, lambda c: c.activation == "relu"),
        ("bias", lambda: torch.nn.RNNCell(D, H, bias=False), run_cell, None),
        ("dtype", lambda: torch.nn.RNNCell(D, H, dtype=torch.float64), run_cell, "dtype"),
    ],
    torch.nn.GRUCell: [("bias", lambda: torch.nn.GRUCell(D, H, bias=False), run_cell, None),
                       ("input_size", lambda: torch.nn.GRUCell(3, H), run_cell, None)],
    torch.nn.LSTMCell: [("bias", lambda: torch.nn.LSTMCell(D, H, bias=False), run_cell, None),
                        ("device", lambda: torch.nn.LSTMCell(D, H, device="cpu"), run_cell, None)],
    torch.nn.Linear: [
        ("in_features", lambda: torch.nn.Linear(3, H), run_leaf, lambda c: c.in_features == 3),
        ("out_features", lambda: torch.nn.Linear(D, 2), run_leaf, lambda c: c.out_features == 2),
        ("bias", lambda: torch.nn.Linear(D, H, bias=False), run_leaf, lambda c: not c.use_bias),
        ("device", lambda: torch.nn.Linear(D, H, device="cpu"), run_leaf, None),
        ("dtype", lambda: torch.nn.Linear(D, H, dtype=torch.bfloat16), run_leaf, "dtype"),
    ],
    torch.nn.Embedding: [
        ("num_embeddings", lambda: torch.nn.Embedding(9, D), run_leaf, lambda c: c.vocab_size == 9 and c.padding_id is None),
        ("embedding_dim", lambda: torch.nn.Embedding(9, 3), run_leaf, lambda c: c.features == 3),
        ("padding_idx", lambda: torch.nn.Embedding(9, D, padding_idx=2), run_leaf, lambda c: c.padding_id == 2),
        ("padding_idx", lambda: torch.nn.Embedding(9, D, padding_idx=-1), run_leaf, lambda c: c.padding_id == 8),
        ("padding_idx", lambda: torch.nn.Embedding.from_pretrained(torch.ones(9, D), padding_idx=2), run_leaf, "padding_idx"),
        ("max_norm", lambda: torch.nn.Embedding(9, D, max_norm=1.0), run_leaf, "max_norm"),
        ("norm_type", lambda: torch.nn.Embedding(9, D, max_norm=1.0, norm_type=1.0), run_leaf, "max_norm"),
        ("norm_type", lambda: torch.nn.Embedding(9, D, norm_type=1.0), run_leaf, None),  # read only with max_norm
        ("scale_grad_by_freq", lambda: torch.nn.Embedding(9, D, scale_grad_by_freq=True), run_leaf, "scale_grad_by_freq"),
        ("sparse", lambda: torch.nn.Embedding(9, D, sparse=True), run_leaf, None),  # how PyTorch stores the gradient
        ("_weight", lambda: torch.nn.Embedding(9, D, _weight=torch.randn(9, D)), run_leaf, None),
        ("_freeze", lambda: torch.nn.Embedding(9, D, _freeze=True), run_leaf, lambda c: c.trainable is False),
        ("dtype", lambda: torch.nn.Embedding(9, D, dtype=torch.float64), run_leaf, "dtype"),
        ("device", lambda: torch.nn.Embedding(9, D, device="cpu"), run_leaf, None),
    ],
    torch.nn.LayerNorm: [
        ("normalized_shape", lambda: torch.nn.LayerNorm((2, D)), run_leaf, "normalized_shape"),
        ("eps", lambda: moved(torch.nn.LayerNorm(D, eps=1e-2)), run_leaf, lambda c: c.eps == 1e-2),
        ("elementwise_affine", lambda: torch.nn.LayerNorm(D, elementwise_affine=False), run_leaf, lambda c: not c.use_scale),
        ("bias", lambda: moved(torch.nn.LayerNorm(D, bias=False)), run_leaf, lambda c: c.use_scale and not c.use_bias),
        ("device", lambda: torch.nn.LayerNorm(D, device="cpu"), run_leaf, None),
        ("dtype", lambda: torch.nn.LayerNorm(D, dtype=torch.float64), run_leaf, "dtype"),
    ],
    torch.nn.MultiheadAttention: [
        ("embed_dim", lambda: moved(torch.nn.MultiheadAttention(D, HEADS)), run_attention, lambda c: c.d_model == D),
        ("num_heads", lambda: moved(torch.nn.MultiheadAttention(D, 4)), run_attention, lambda c: c.num_heads == 4),
        ("dropout", lambda: moved(torch.nn.MultiheadAttention(D, HEADS, dropout=0.2)), run_attention, lambda c: c.dropout == pytest.approx(0.2)),
        ("bias", lambda: moved(torch.nn.MultiheadAttention(D, HEADS, bias=False)), run_attention, lambda c: not c.use_bias),
        ("add_bias_kv", lambda: torch.nn.MultiheadAttention(D, HEADS, add_bias_kv=True), run_attention, "add_bias_kv"),
        ("add_zero_attn", lambda: torch.nn.MultiheadAttention(D, HEADS, add_zero_attn=True), run_attention, "add_zero_attn"),
        ("kdim", lambda: moved(torch.nn.MultiheadAttention(D, HEADS, kdim=5, vdim=5)), run_attention, lambda c: c.kv_features == 5),
        ("vdim", lambda: torch.nn.MultiheadAttention(D, HEADS, kdim=5, vdim=3), run_attention, "vdim"),
        ("batch_first", lambda: moved(torch.nn.MultiheadAttention(D, HEADS, batch_first=True)), run_attention, None),
        ("device", lambda: moved(torch.nn.MultiheadAttention(D, HEADS, device="cpu")), run_attention, None),
        ("dtype", lambda: torch.nn.MultiheadAttention(D, HEADS, dtype=torch.float64), run_attention, "dtype"),
    ],
}

ACTIVATIONS = [("relu", "relu"), ("gelu", "gelu"), (F.relu, "relu"), (F.gelu, "gelu"), (torch.nn.ReLU(), "relu"),
               (torch.nn.GELU(), "gelu"), (torch.nn.GELU(approximate="tanh"), "gelu_tanh"),
               (functools.partial(F.gelu, approximate="tanh"), "gelu_tanh"), (F.silu, None), (torch.nn.Tanh(), None)]


def layer_cases(make):
    name = "TransformerDecoderLayer" if make is decoder_layer else "TransformerEncoderLayer"
    norms = ("norm1", "norm2", "norm3") if make is decoder_layer else ("norm1", "norm2")
    attentions = ("self_attn", "multihead_attn") if make is decoder_layer else ("self_attn",)
    cases = [
        ("d_model", lambda: moved(make()), run_transformer, lambda c: c.d_model == D),
        ("nhead", lambda: moved(make()), run_transformer, lambda c: c.num_heads == HEADS),
        ("dim_feedforward", lambda: moved(make()), run_transformer, lambda c: c.d_ff == 12),
        ("dropout", lambda: moved(make(dropout=0.2)), run_transformer, lambda c: c.dropout == pytest.approx(0.2) and c.attention_dropout is None),
        ("dropout", lambda: mutate(make(), dropout2__p=0.3), run_transformer, "dropout"),
        ("dropout", lambda: mutate(make(), **{f"{name}__dropout": 0.3 for name in attentions}), run_transformer,
         lambda c: c.attention_dropout == pytest.approx(0.3)),
        ("layer_norm_eps", lambda: moved(make(layer_norm_eps=1e-2)), run_transformer, lambda c: c.eps == pytest.approx(1e-2)),
        ("layer_norm_eps", lambda: mutate(make(), **{f"{norms[-1]}__eps": 1e-3}), run_transformer, "layer_norm_eps"),
        ("layer_norm_eps", lambda: mutate(make(), norm1=torch.nn.RMSNorm(D)), run_transformer, "layer_norm_eps"),
        ("batch_first", lambda: moved(make(batch_first=True)), run_transformer, None),
        ("norm_first", lambda: moved(make(norm_first=True)), run_transformer, lambda c: c.norm_first),
        ("bias", lambda: moved(make(bias=False)), run_transformer, None),
        ("device", lambda: moved(make(device="cpu")), run_transformer, None),
        ("dtype", lambda: make(dtype=torch.float64), run_transformer, "dtype"),
    ]
    if make is decoder_layer:  # one attention dropout rate for both attentions
        cases.append(("dropout", lambda: mutate(make(), self_attn__dropout=0.3), run_transformer, "dropout"))
    for act, want in ACTIVATIONS:
        cases.append(("activation", lambda act=act: moved(make(activation=act)), run_transformer,
                      (lambda c, want=want: c.activation == want) if want else "activation"))
    return name, cases


for _make in (encoder_layer, decoder_layer):
    _name, _cases = layer_cases(_make)
    FROM_TORCH[getattr(torch.nn, _name)] = _cases


def encoder_stack(**kw):
    return torch.nn.TransformerEncoder(encoder_layer(batch_first=True), 2, **kw)


FROM_TORCH[torch.nn.TransformerEncoder] = [
    ("encoder_layer", lambda: moved(torch.nn.TransformerEncoder(encoder_layer(norm_first=True), 2)), run_transformer, lambda c: c.layer.norm_first),
    ("num_layers", lambda: moved(encoder_stack(enable_nested_tensor=False)), run_transformer, lambda c: c.num_layers == 2),
    ("num_layers", lambda: mutate(encoder_stack(enable_nested_tensor=False), layers__1__norm_first=True), run_transformer, "num_layers"),
    ("norm", lambda: moved(encoder_stack(norm=torch.nn.LayerNorm(D), enable_nested_tensor=False)), run_transformer, lambda c: c.final_norm),
    ("norm", lambda: encoder_stack(norm=torch.nn.LayerNorm(D, eps=1e-3), enable_nested_tensor=False), run_transformer, "norm"),
    ("norm", lambda: encoder_stack(norm=torch.nn.RMSNorm(D), enable_nested_tensor=False), run_transformer, "norm"),
    ("enable_nested_tensor", lambda: moved(encoder_stack(enable_nested_tensor=True)), run_transformer, None),
    ("mask_check", lambda: moved(encoder_stack(enable_nested_tensor=False, mask_check=False)), run_transformer, None),
]
FROM_TORCH[torch.nn.TransformerDecoder] = [
    ("decoder_layer", lambda: moved(torch.nn.TransformerDecoder(decoder_layer(activation="gelu"), 2)), run_transformer, lambda c: c.layer.activation == "gelu"),
    ("num_layers", lambda: moved(torch.nn.TransformerDecoder(decoder_layer(), 3)), run_transformer, lambda c: c.num_layers == 3),
    ("norm", lambda: moved(torch.nn.TransformerDecoder(decoder_layer(), 2, norm=torch.nn.LayerNorm(D))), run_transformer, lambda c: c.final_norm),
    ("norm", lambda: torch.nn.TransformerDecoder(decoder_layer(), 2, norm=torch.nn.LayerNorm(D, eps=1e-2)), run_transformer, "norm"),
]


def constructor_arguments(module_type) -> set[str]:
    if issubclass(module_type, torch.nn.RNNBase):  # RNN/GRU/LSTM take *args; RNNBase names them (mode is the class)
        names = set(inspect.signature(torch.nn.RNNBase.__init__).parameters) - {"mode"}
        names |= {"nonlinearity"} if module_type is torch.nn.RNN else set()
        names -= {"proj_size"} if module_type is not torch.nn.LSTM else set()
    else:
        names = set(inspect.signature(module_type.__init__).parameters)
    return names - {"self"}


# arguments already checked in tests/test_torch_parity.py and tests/test_transformer_parity.py over their grids
ELSEWHERE = {torch.nn.GRU: {"input_size", "hidden_size", "batch_first", "dropout", "bidirectional", "device"},
             torch.nn.RNN: {"input_size", "hidden_size", "num_layers", "batch_first", "dropout", "bidirectional", "device", "dtype"},
             torch.nn.RNNCell: {"input_size", "hidden_size", "device"},
             torch.nn.GRUCell: {"hidden_size", "device", "dtype"}, torch.nn.LSTMCell: {"input_size", "hidden_size", "dtype"}}


@pytest.mark.parametrize("module_type", list(FROM_TORCH), ids=lambda m: m.__name__)
@pytest.mark.slow
def test_every_constructor_argument_is_converted_or_refused(module_type):
    audited = {name for name, *_ in FROM_TORCH[module_type]} | ELSEWHERE.get(module_type, set())
    missing = constructor_arguments(module_type) - audited
    assert not missing, f"{module_type.__name__} arguments with no conversion test and no refusal: {sorted(missing)}"
    for argument, build, run, check in FROM_TORCH[module_type]:
        torch.manual_seed(0)
        module = build().eval()
        if isinstance(check, str):
            with pytest.raises(NotImplementedError, match=rf"{module_type.__name__}\({check}=") as error:
                run(module)
            assert check in str(error.value)
        else:
            converted = run(module)
            assert check is None or check(converted), f"{module_type.__name__}({argument}=...) was not carried over: {converted}"


def test_the_tanh_gelu_is_not_the_exact_one():
    # the case the outside check found: the two GELUs differ by ~2e-4 here, so a converter that maps
    # one to the other fails run_transformer's 1e-5
    x = jnp.linspace(-3, 3, 101)
    assert float(jnp.max(jnp.abs(FF_ACTIVATIONS["gelu_tanh"](x) - FF_ACTIVATIONS["gelu"](x)))) > 1e-4
    torch.manual_seed(0)
    module = moved(encoder_layer(activation=torch.nn.GELU(approximate="tanh")))
    layer, params = seqjax.from_torch(module)
    wrong = dataclasses.replace(layer, activation="gelu")
    x = rng(0, B, T, D)
    with torch.no_grad():
        want = module(torch.from_numpy(x).transpose(0, 1)).transpose(0, 1).numpy()
    assert np.max(np.abs(np.asarray(wrong(params, jnp.asarray(x))) - want)) > 1e-5
    close(layer(params, jnp.asarray(x)), want)


# --- to_torch: every field of what it converts ------------------------------------------------------


def run_to_torch(cell, params=None):
    params = cell.init(jax.random.key(3)) if params is None else params
    module = seqjax.to_torch(cell, params).eval()
    if isinstance(cell, seqjax.Embedding):
        x = np.array([[1, 2, 8], [2, 0, 3]])
        got = cell(params, jnp.asarray(x))
    else:
        inner = cell.layers[0] if isinstance(cell, seqjax.Stack) else cell
        inner = inner.forward if isinstance(inner, seqjax.Bidirectional) else inner
        size = cell.in_features if isinstance(cell, seqjax.Dense) else cell.features if isinstance(cell, seqjax.LayerNorm) else inner.input_size
        x = 2 + rng(0, B, T, size)
        got = seqjax.unroll(cell, params, jnp.asarray(x))[0] if not isinstance(cell, (seqjax.Dense, seqjax.LayerNorm)) else cell(params, jnp.asarray(x))
    with torch.no_grad():
        want = module(torch.from_numpy(x))
    close(got, (want[0] if isinstance(want, tuple) else want).numpy())
    return module


def lstm_stack(**kw):
    return seqjax.Stack((seqjax.LSTM(D, H), seqjax.LSTM(H, H)), **kw)


TO_TORCH = {
    seqjax.Elman: [("input_size", seqjax.Elman(3, H), None), ("hidden_size", seqjax.Elman(D, 4), lambda m: m.hidden_size == 4),
                   ("activation", seqjax.Elman(D, H, activation="relu"), lambda m: m.nonlinearity == "relu"),
                   ("activation", seqjax.Elman(D, H, activation="sigmoid"), "tanh or relu"),
                   ("output_size", seqjax.Elman(D, H, output_size=3), "no output layer"),
                   ("output_activation", seqjax.Elman(D, H, output_size=3, output_activation="softmax"), "no output layer"),
                   ("param_dtype", seqjax.Elman(D, H, param_dtype=jnp.bfloat16), None)],
    seqjax.GRU: [("input_size", seqjax.GRU(3, H, reset_after=True), None), ("hidden_size", seqjax.GRU(D, 4, reset_after=True), None),
                 ("reset_after", seqjax.GRU(D, H), "reset after"), ("activation", seqjax.GRU(D, H, reset_after=True, activation="relu"), "tanh"),
                 ("param_dtype", seqjax.GRU(D, H, reset_after=True, param_dtype=jnp.bfloat16), None)],
    seqjax.LSTM: [("input_size", seqjax.LSTM(3, H), None), ("hidden_size", seqjax.LSTM(D, 4), None),
                  ("forget_bias", seqjax.LSTM(D, H, forget_bias=2.5), None), ("activation", seqjax.LSTM(D, H, activation="relu"), "tanh"),
                  ("param_dtype", seqjax.LSTM(D, H, param_dtype=jnp.bfloat16), None)],
    seqjax.Dense: [("in_features", seqjax.Dense(3, H), None), ("out_features", seqjax.Dense(D, 2), None),
                   ("use_bias", seqjax.Dense(D, H, use_bias=False), lambda m: m.bias is None),
                   ("activation", seqjax.Dense(D, H, activation="relu"), "no activation"),
                   ("kernel_init", seqjax.Dense(D, H, kernel_init="zeros" if "zeros" in seqjax.layers.INITIALIZERS else "glorot_uniform"), None),
                   ("param_dtype", seqjax.Dense(D, H, param_dtype=jnp.bfloat16), None)],
    seqjax.Embedding: [("vocab_size", seqjax.Embedding(9, D), None), ("features", seqjax.Embedding(9, 3), None),
                       ("padding_id", seqjax.Embedding(9, D, padding_id=2), lambda m: m.padding_idx == 2),
                       ("padding_id", seqjax.Embedding(9, D, padding_id=None), lambda m: m.padding_idx is None),
                       ("trainable", seqjax.Embedding(9, D, trainable=False), lambda m: not m.weight.requires_grad),
                       ("stddev", seqjax.Embedding(9, D, stddev=2.0), None),
                       ("param_dtype", seqjax.Embedding(9, D, param_dtype=jnp.bfloat16), None)],
    seqjax.LayerNorm: [("features", seqjax.LayerNorm(D), None), ("eps", seqjax.LayerNorm(D, eps=1e-2), lambda m: m.eps == 1e-2),
                       ("use_scale", seqjax.LayerNorm(D, use_scale=False), lambda m: not m.weight.requires_grad),
                       ("use_scale", seqjax.LayerNorm(D, use_scale=False, use_bias=False), lambda m: m.weight is None),
                       ("use_bias", seqjax.LayerNorm(D, use_bias=False), lambda m: m.bias is None),
                       ("param_dtype", seqjax.LayerNorm(D, param_dtype=jnp.bfloat16), None)],
    seqjax.Bidirectional: [("forward", seqjax.Bidirectional(seqjax.GRU(D, H, reset_after=True)), lambda m: m.bidirectional),
                           ("backward", seqjax.Bidirectional(seqjax.LSTM(D, H), seqjax.LSTM(D, H, forget_bias=0.0)), None),
                           ("backward", seqjax.Bidirectional(seqjax.LSTM(D, H), seqjax.GRU(D, H, reset_after=True)), "one kind of cell"),
                           ("merge", seqjax.Bidirectional(seqjax.LSTM(D, H), merge="sum"), "concatenates")],
    seqjax.Stack: [("layers", lstm_stack(), lambda m: m.num_layers == 2),
                   ("dropout", lstm_stack(dropout=0.25), lambda m: m.dropout == 0.25),
                   ("residual_from", lstm_stack(residual_from=0), "residual")],
}


@pytest.mark.parametrize("kind", list(TO_TORCH), ids=lambda k: k.__name__)
def test_every_field_is_converted_or_refused_by_to_torch(kind):
    missing = {f.name for f in dataclasses.fields(kind)} - {name for name, *_ in TO_TORCH[kind]}
    assert not missing, f"{kind.__name__} fields with no to_torch test and no refusal: {sorted(missing)}"
    for field, cell, check in TO_TORCH[kind]:
        if isinstance(check, str):
            with pytest.raises(TypeError, match=check):
                run_to_torch(cell)
        else:
            module = run_to_torch(cell)
            assert check is None or check(module), f"{kind.__name__}.{field} was not carried over"


def test_to_torch_zeroes_a_padding_row_that_seqjax_never_reads():
    layer = seqjax.Embedding(9, D, padding_id=2)
    params = {"table": jnp.ones((9, D))}  # a padding row that is not zero: seqjax still returns zeros for id 2
    module = run_to_torch(layer, params)
    assert float(module.weight.detach()[2].abs().sum()) == 0.0
