"""seqjax.decoding's generator interface: every model that emits tokens implements it, its
``generate`` is the one loop of ``seqjax.decoding`` run from the model's ``decode_start``, and
``generate_all`` decodes a dataset in order, each example as it would be decoded alone."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax
from seqjax import decoding
from seqjax.data.vocab import EOS_ID, GO_ID
from seqjax.models import Captioner, RecurrentLM, Seq2Seq, Transformer, TransformerLM

KEY = jax.random.key(0)
SOURCES = [[5, 6, 7], [8, 9], [4, 5, 6, 7, 8, 9, 10], [11], [12, 4]]


def models():
    """Tiny models of every kind that generates, with params pushed towards ending (so EOS shows up)."""
    out = {
        "seq2seq (attention)": Seq2Seq.recurrent(14, 12, embed_size=8, hidden_size=8),
        "seq2seq (no attention)": Seq2Seq.recurrent(14, 12, embed_size=8, hidden_size=8, attention="none"),
        "transformer": Transformer(14, 12, d_model=8, num_heads=2, encoder_layers=1, decoder_layers=1, d_ff=16, dropout=0.0),
        "captioner": Captioner.recurrent(12, image_size=8, kind="attend", channels=(3, 4), embed_size=8, hidden_size=8, attention_size=8),
        "transformer LM": TransformerLM(12, d_model=8, num_heads=2, num_layers=1, context=16),
        "recurrent LM": RecurrentLM(12, seqjax.Stack((seqjax.LSTM(6, 8), seqjax.GRU(8, 8)))),
    }
    return {name: (model, model.init(jax.random.fold_in(KEY, i))) for i, (name, model) in enumerate(out.items())}


def inputs(name, sources=SOURCES):
    if name == "captioner":
        return (np.stack([np.full((8, 8, 3), len(s) / 10, np.float32) for s in sources]),)
    if name.endswith("LM"):
        return (jnp.asarray([[s[0] % 12, s[-1] % 12] for s in sources], jnp.int32),)
    ids, lengths = decoding.pad_token_lists(sources)
    return ids, lengths


MODELS = models()
SLOW = ("transformer LM", "transformer", "seq2seq (attention)")  # 6-9 s each on 2 cores: in the slow tier


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in MODELS])
def test_every_model_that_emits_tokens_is_a_generator_and_generate_is_one_loop(name):
    model, params = MODELS[name]
    assert isinstance(model, decoding.Generator)
    start = model.decode_start(params, *inputs(name), max_length=6)
    assert start.tokens.shape == (len(SOURCES),)
    if not name.endswith("LM"):
        assert np.all(np.asarray(start.tokens) == GO_ID) and start.eos_id == EOS_ID
    for method, options in (("greedy", {}), ("beam", {"beam_width": 3}), ("sample", {"key": KEY})):
        got = model.generate(params, *inputs(name), max_length=6, method=method, **options)
        want = decoding.decode(method, model.step, start.params, start.state, start.tokens, max_length=6, eos_id=start.eos_id,
                               pad_id=start.pad_id, **options)
        assert np.array_equal(np.asarray(got.tokens), np.asarray(want.tokens)), method
        np.testing.assert_allclose(np.asarray(got.scores), np.asarray(want.scores), rtol=1e-6)


@pytest.mark.parametrize("name", ["seq2seq (attention)", "seq2seq (no attention)", "captioner", "recurrent LM"])
@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_recurrent_generators_slice_their_weights_once_before_the_decoding_loop(name, method):
    # the cell interface's prepare_loop, applied in decode_start: no step of the loop copies W_h's blocks
    from tests.test_cells import _slices_of

    model, params = MODELS[name]
    shapes = {leaf.shape for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0] if jax.tree_util.keystr(path).endswith("['wh']")}
    options = {"beam_width": 2} if method == "beam" else {}
    start = model.decode_start(params, *inputs(name), max_length=4)
    loop = lambda p, s: decoding.decode(method, model.step, p, s, start.tokens, max_length=4, eos_id=start.eos_id,  # noqa: E731
                                        pad_id=start.pad_id, **options).tokens

    def slices_inside_the_loop(p):
        jaxpr = jax.make_jaxpr(loop)(p, start.state).jaxpr
        return sum(inside for shape in shapes for inside in _slices_of(jaxpr, shape) + _slices_of(jaxpr, shape[::-1]))

    assert slices_inside_the_loop(start.params) == 0
    assert slices_inside_the_loop(params) > 0  # what a caller who forgot prepare_loop would run: the check sees it


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in MODELS])
def test_generate_all_decodes_each_example_as_alone_in_order(name):
    model, params = MODELS[name]
    examples = SOURCES if name != "captioner" else list(inputs(name)[0])
    collate = None if name != "captioner" and not name.endswith("LM") else (
        (lambda chunk: (np.stack(chunk),)) if name == "captioner" else (lambda chunk: (jnp.asarray([[s[0] % 12] for s in chunk], jnp.int32),)))
    options = dict(max_length=6, method="beam", beam_width=2, eos_id=3 if name.endswith("LM") else None)
    got, weights = decoding.generate_all(model, params, examples, batch_size=2, collate=collate, buckets=(4, 8), **options)
    assert weights is None and len(got) == len(examples)
    for example, ids in zip(examples, got):
        one = collate([example]) if collate else decoding.pad_token_lists([example], (8,))  # one shape: padding changes nothing
        alone = decoding.generate(model, params, *one, **options)
        n = int(alone.lengths[0, 0])
        want = np.asarray(alone.tokens[0, 0, :n]).tolist()
        eos = 3 if name.endswith("LM") else EOS_ID
        assert ids == (want[:-1] if want and want[-1] == eos else want)
        assert eos not in ids


def test_generate_all_renders_and_returns_the_attention_of_the_best_hypothesis():
    model, params = MODELS["seq2seq (attention)"]
    texts, weights = decoding.generate_all(model, params, SOURCES, batch_size=4, max_length=5, method="greedy", attention=True,
                                           render=lambda ids: "-".join(map(str, ids)))
    plain, _ = decoding.generate_all(model, params, SOURCES, batch_size=4, max_length=5, method="greedy")
    assert texts == ["-".join(map(str, ids)) for ids in plain]
    out = model.generate(params, *decoding.pad_token_lists(SOURCES[:4]), max_length=5, attention=True)
    np.testing.assert_allclose(weights[1], np.asarray(out.records[1]), rtol=1e-6)
    assert weights[4].shape == (5, 2)  # the last batch: SOURCES[4] and copies of it, padded to its longest


def test_a_model_without_the_interface_is_named():
    with pytest.raises(TypeError, match="generate needs a model with decode_start and step"):
        decoding.generate(object(), None, max_length=3)
    with pytest.raises(ValueError, match="method must be 'greedy', 'beam' or 'sample'"):
        decoding.generate(MODELS["transformer"][0], MODELS["transformer"][1], *inputs("transformer"), max_length=3, method="top")


@pytest.mark.slow  # ~10 s each on 2 cores
@pytest.mark.parametrize("name", ["recurrent LM", "transformer LM"])
def test_prompts_of_different_lengths_in_one_batch_generate_as_each_prompt_alone(name):
    """Right-padded prompts with ``lengths``: every row, greedy and beam search, is the row's prompt
    generated alone (padding of another id changes nothing either)."""
    model, params = MODELS[name]
    prompts = [[3, 4, 5, 6, 7], [8], [9, 10, 11]]
    lengths = np.array([len(p) for p in prompts])
    for pad in (0, 7):
        ids = jnp.asarray([p + [pad] * (5 - len(p)) for p in prompts], jnp.int32)
        for method, options in (("greedy", {}), ("beam", {"beam_width": 3, "length_penalty": 1.0, "length_norm": "power"})):
            together = model.generate(params, ids, lengths, max_length=6, method=method, eos_id=2, **options).best
            for row, prompt in enumerate(prompts):
                alone = model.generate(params, jnp.asarray([prompt], jnp.int32), max_length=6, method=method, eos_id=2, **options).best
                np.testing.assert_array_equal(np.asarray(together.tokens[row]), np.asarray(alone.tokens[0]), err_msg=f"{method} {row}")
                np.testing.assert_allclose(float(together.scores[row]), float(alone.scores[0]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        model.generate(params, ids, np.array([5, 0, 3]), max_length=6)
    with pytest.raises(ValueError, match=r"lengths must be ints of shape \[batch=3\]"):
        model.generate(params, ids, np.array([5, 3]), max_length=6)
    if name == "transformer LM":  # context 16: the longest prompt (5) + 13 - 1 tokens do not fit
        with pytest.raises(ValueError, match=r"the longest \(5\) \+ max_length \(13\) - 1 > context \(16\)"):
            model.generate(params, ids, lengths, max_length=13)
