"""The conventions of the README's API section, checked on every model: the batch keys a loss reads,
``generate``'s signature, default method and output shapes, and the earlier spellings that still
work for one release with a DeprecationWarning."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import data, decoding
from seqjax.data import datasets, pairs
from seqjax.models import Classifier
from seqjax.sequences.conv import TextCNN
from tests.test_generation import MODELS, inputs

KEY = jax.random.key(0)
# the README's table: what a loss reads, by kind of model
BATCH_KEYS = {
    "classifier": {"ids", "lengths", "labels"},
    "language model": {"ids", "targets"},                 # "lengths" too when rows end early
    "sequence to sequence": {"source", "source_lengths", "target_inputs", "target_outputs", "target_lengths"},
    "captioner": {"images", "target_inputs", "target_outputs", "target_lengths"},
}
KIND = {"seq2seq (attention)": "sequence to sequence", "seq2seq (no attention)": "sequence to sequence",
        "transformer": "sequence to sequence", "captioner": "captioner", "transformer LM": "language model", "recurrent LM": "language model"}


QUICK = ("seq2seq (no attention)", "recurrent LM")  # the others in the slow tier (5-9 s each on 2 cores)


class Recording(dict):
    """A batch that remembers which keys were read (not a pytree: the method runs as written)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def batch_for(kind: str, b: int = 2, t: int = 4) -> dict:
    ids = jnp.asarray(np.arange(b * t).reshape(b, t) % 7 + 4, jnp.int32)
    full = {"ids": ids, "lengths": jnp.full((b,), t), "labels": jnp.zeros((b,), jnp.int32), "targets": ids,
            "source": ids, "source_lengths": jnp.full((b,), t), "target_inputs": ids, "target_outputs": ids,
            "target_lengths": jnp.full((b,), t), "images": jnp.zeros((b, 8, 8, 3))}
    return {k: full[k] for k in BATCH_KEYS[kind] | ({"lengths"} if kind == "language model" else set())}


@pytest.mark.parametrize("name", [n if n in QUICK + ("classifier",) else pytest.param(n, marks=pytest.mark.slow)
                                  for n in list(MODELS) + ["classifier"]])
def test_every_loss_reads_the_batch_keys_of_the_conventions(name):
    if name == "classifier":
        model, kind = Classifier(20, 3, TextCNN(6, (2, 3), 4)), "classifier"
        params = model.init(KEY)
    else:
        (model, params), kind = MODELS[name], KIND[name]
    batch = Recording(batch_for(kind))
    loss, _ = model.loss(params, batch)
    assert np.isfinite(float(loss))
    assert BATCH_KEYS[kind] <= batch.read <= BATCH_KEYS[kind] | {"lengths"}, (name, sorted(batch.read))


@pytest.mark.parametrize("name", [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow) for n in MODELS])
def test_generate_has_one_signature_one_default_and_one_shape_for_every_method(name):
    model, params = MODELS[name]
    signature = inspect.signature(type(model).generate)
    assert signature.parameters["max_length"].kind is inspect.Parameter.KEYWORD_ONLY
    assert signature.parameters["method"].default in ("greedy", None)  # None: "greedy" (a language model's old default, below)
    default = model.generate(params, *inputs(name), max_length=4)
    greedy = model.generate(params, *inputs(name), max_length=4, method="greedy")
    np.testing.assert_array_equal(np.asarray(default.tokens), np.asarray(greedy.tokens))
    b = len(inputs(name)[0])
    for method, options in (("greedy", {}), ("sample", {"key": KEY}), ("beam", {"beam_width": 3})):
        out = model.generate(params, *inputs(name), max_length=4, method=method, **options)
        k = 3 if method == "beam" else 1
        assert out.best.tokens.shape == (b, 4) and out.best.lengths.shape == (b,) and out.best.scores.shape == (b,), method
        assert out.hypotheses.tokens.shape == (b, k, 4) and out.hypotheses.lengths.shape == (b, k), method
        np.testing.assert_array_equal(np.asarray(out.best.tokens), np.asarray(out.hypotheses.tokens[:, 0]))


def test_the_earlier_spellings_work_for_one_release_and_warn(tmp_path):
    lm, params = MODELS["transformer LM"]
    prompt = inputs("transformer LM")[0]
    with pytest.warns(DeprecationWarning, match="the default method is now 'greedy'"):
        old = lm.generate(params, prompt, max_length=4, key=KEY)  # key= and no method: sampled, as before
    np.testing.assert_array_equal(np.asarray(old.tokens), np.asarray(lm.generate(params, prompt, max_length=4, method="sample", key=KEY).tokens))
    with pytest.warns(DeprecationWarning, match="is now batch\\['ids'\\]"):
        loss, _ = lm.loss(params, {"inputs": prompt, "targets": prompt})
    np.testing.assert_allclose(float(loss), float(lm.loss(params, {"ids": prompt, "targets": prompt})[0]), rtol=1e-6)
    stream = data.TokenStream(np.arange(200) % 9, 2, 5)
    batch = next(stream)
    with pytest.warns(DeprecationWarning, match="is now batch\\['ids'\\]"):
        np.testing.assert_array_equal(batch["inputs"], batch["ids"])
    assert jax.tree_util.tree_structure(batch).num_leaves == 3  # still a plain pytree of its arrays
    with pytest.warns(DeprecationWarning, match="strip_special is now strip_specials"):
        assert pairs.strip_special([3, 5, 0, 6, 2, 7]) == pairs.strip_specials([3, 5, 0, 6, 2, 7]) == [5, 6]
    seq2seq, s_params = MODELS["seq2seq (attention)"]
    start = seq2seq.decode_start(s_params, *inputs("seq2seq (attention)"), max_length=4)
    with pytest.warns(DeprecationWarning, match="beam_search is now seqjax.decoding.beam"):
        old = decoding.beam_search(seq2seq.step, start.params, start.state, start.tokens, beam_width=2, max_length=4, eos_id=start.eos_id)
    new = decoding.beam(seq2seq.step, start.params, start.state, start.tokens, beam_width=2, max_length=4, eos_id=start.eos_id)
    np.testing.assert_array_equal(np.asarray(old.tokens), np.asarray(new.tokens))
    (tmp_path / "l.csv").write_text("pos,fine film\nneg,dull\n")
    with pytest.warns(DeprecationWarning, match="labelled_csv is now datasets.labelled_texts"):
        assert datasets.labelled_csv(tmp_path / "l.csv")[0] == [(1, "fine film"), (0, "dull")]
    assert datasets.labelled_texts(tmp_path / "l.csv")[0] == [("fine film", 1), ("dull", 0)]
