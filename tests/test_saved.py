"""A saved model describes itself (``seqjax.models.saved``): every model kind is written with
``save_model`` and comes back from ``seqjax.load`` as the same model (dataclass equality), the same
params and the same logits, also in a fresh interpreter; a missing or corrupt piece is named."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax
from seqjax import data
from seqjax.models import Classifier, Seq2Seq, describe, rebuild
from seqjax.sequences.conv import ConvRNN, TextCNN
from seqjax.train import CheckpointError
from tests.test_generation import MODELS, inputs

KEY = jax.random.key(0)


def classifiers():
    gru = seqjax.GRU(6, 5)
    return {"classifier (bi-GRU, attention pooling)": Classifier(20, 3, seqjax.Bidirectional(gru), pooling="attention", attention_size=4),
            "classifier (text CNN, multichannel)": Classifier(20, 2, TextCNN(6, (2, 3), 4), embeddings="multichannel"),
            "classifier (CNN+RNN)": Classifier(20, 2, ConvRNN(6, seqjax.LSTM(4, 5), feature_maps=4)),
            "seq2seq (LSTM stack, luong)": Seq2Seq.recurrent(14, 12, cell="lstm", embed=8, hidden=8, attention="general",
                                                              encoder_layers=2, decoder_layers=2, dropout=0.1)}


QUICK = ("seq2seq (attention)", "classifier (text CNN, multichannel)")  # the rest in the slow tier (~5 s each on 2 cores)


@pytest.mark.parametrize("name", [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow) for n in list(MODELS) + list(classifiers())])
def test_every_model_comes_back_as_the_same_model_params_and_logits(name, tmp_path):
    model, params = MODELS[name] if name in MODELS else (classifiers()[name], None)
    if params is None:
        params = model.init(KEY) if getattr(model, "embeddings", "rand") == "rand" else model.init(KEY, pretrained=np.ones((20, 6), np.float32))
    assert rebuild(json.loads(json.dumps(describe(model)))) == model  # through JSON text
    vocab = data.Vocab.build([["a", "b", "c"]])
    seqjax.save_model(tmp_path / "m", model, params, vocabularies={"src": vocab}, meta={"note": "test"})
    loaded = seqjax.load(tmp_path / "m")
    assert loaded.model == model and loaded.vocabularies == {"src": vocab} and loaded.meta == {"note": "test"}
    jax.tree_util.tree_map(np.testing.assert_array_equal, loaded.params, params)
    if name.startswith("classifier"):  # the generators decode; a classifier scores
        ids, lengths = jnp.asarray(np.random.default_rng(0).integers(4, 20, (2, 7)), jnp.int32), jnp.array([7, 4])
        want, got = model.logits(params, ids, lengths), loaded.model.logits(loaded.params, ids, lengths)
    else:
        want = model.generate(params, *inputs(name), max_length=5, method="greedy").tokens
        got = loaded.model.generate(loaded.params, *inputs(name), max_length=5, method="greedy").tokens
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.slow
def test_a_saved_model_loads_in_a_fresh_process_with_no_code_of_its_own(tmp_path):
    model, params = MODELS["seq2seq (attention)"]
    seqjax.save_model(tmp_path / "m", model, params)
    want = model.generate(params, *inputs("seq2seq (attention)"), max_length=5, method="beam", beam_width=2).tokens
    np.save(tmp_path / "want.npy", np.asarray(want))
    ids, lengths = inputs("seq2seq (attention)")
    np.save(tmp_path / "ids.npy", np.asarray(ids)), np.save(tmp_path / "lengths.npy", np.asarray(lengths))
    code = f"""
import numpy as np, seqjax
loaded = seqjax.load({str(tmp_path / 'm')!r})
out = loaded.model.generate(loaded.params, np.load({str(tmp_path / 'ids.npy')!r}), np.load({str(tmp_path / 'lengths.npy')!r}),
                            max_length=5, method="beam", beam_width=2)
assert (np.asarray(out.tokens) == np.load({str(tmp_path / 'want.npy')!r})).all()
print(type(loaded.model).__name__)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "Seq2Seq", done.stderr[-2000:]


def test_a_missing_or_corrupt_piece_is_named(tmp_path):
    model, params = MODELS["recurrent LM"]
    with pytest.raises(CheckpointError, match=r"holds no saved parameters \(no meta.json"):
        seqjax.load(tmp_path / "nothing")
    seqjax.save_model(tmp_path / "m", model, params)
    meta_file = tmp_path / "m" / "meta.json"
    record = json.loads(meta_file.read_text())

    def write(change):
        meta_file.write_text(json.dumps(change(json.loads(json.dumps(record)))))

    write(lambda r: {**r, "meta": {**r["meta"], "model": {**r["meta"]["model"], "type": "seqjax.models.nowhere.Model"}}})
    with pytest.raises(CheckpointError, match=r"meta.json: model: 'seqjax.models.nowhere.Model' does not exist in this version"):
        seqjax.load(tmp_path / "m")
    write(lambda r: {**r, "meta": {**r["meta"], "model": {**r["meta"]["model"], "type": "os.system"}}})
    with pytest.raises(CheckpointError, match=r"'os.system' is not a class of the seqjax package; only those are rebuilt"):
        seqjax.load(tmp_path / "m")
    cell = record["meta"]["model"]["args"]["cell"]
    write(lambda r: {**r, "meta": {**r["meta"], "model": {**r["meta"]["model"], "args": {**r["meta"]["model"]["args"],
                                                                                          "cell": {**cell, "args": {**cell["args"], "depth": 3}}}}}})
    with pytest.raises(CheckpointError, match=r"model.cell: seqjax.sequences.wrappers.Stack has no field\(s\) depth"):
        seqjax.load(tmp_path / "m")
    write(lambda r: {k: v for k, v in r.items() if k != "meta"} | {"meta": {"note": 1}})
    with pytest.raises(CheckpointError, match=r"describes no model \(model_format None"):
        seqjax.load(tmp_path / "m")
    write(lambda r: {**r, "meta": {**r["meta"], "model": {**r["meta"]["model"], "args": {**r["meta"]["model"]["args"], "vocab_size": 13}}}})
    with pytest.raises(CheckpointError, match=r"parameter 'embed' is \[12, 6\] float32 there but \[13, 6\] float32 in this model"):
        seqjax.load(tmp_path / "m")
    # what cannot be written as JSON, or rebuilt without code of the user's, is refused by name when saving
    with pytest.raises(TypeError, match=r"model\['act'\]: a builtin_function_or_method .* cannot be described as JSON"):
        describe({"act": len})
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Mine:
        size: int = 3

    with pytest.raises(TypeError, match=r"model: .*Mine is not a class of the seqjax package"):
        seqjax.save_model(tmp_path / "mine", Mine(), {"w": jnp.ones(2)})
    assert not (tmp_path / "mine").exists()
