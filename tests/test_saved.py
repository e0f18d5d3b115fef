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
            "seq2seq (LSTM stack, luong)": Seq2Seq.recurrent(14, 12, cell="lstm", embed_size=8, hidden_size=8, attention="general",
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


# --- raw text in and out: tokenizers as data, Loaded.generate / predict ---------------------------------


def test_a_tokenizer_is_data_that_splits_and_writes_text_as_the_functions_it_replaces():
    text = "Don't stop:\n  the T-shirt's (red) Ü-Bahn, 42!"
    assert data.Tokenizer.word()(text) == data.word_tokenize(text) and data.Tokenizer.char()(text) == list(text)
    assert data.Tokenizer.word(lower=False)(text)[:3] == ["Don't", "stop", ":"]
    cased = data.Tokenizer.word(lower=False, rules=seqjax.data.tokenizer.DETOKENIZE)
    assert cased.render(cased("A man (in red) wears a T-shirt, fast.")) == "A man (in red) wears a T-shirt, fast."
    squeezed = data.Tokenizer.char(squeeze_space=True, max_tokens=6)
    assert squeezed(" a \n\t b c") == list("a b c") and squeezed("abcdefgh") == list("abcdef")
    for tokenizer in (cased, squeezed, data.Tokenizer(r"<\w+>|\d", lower=True, rules=((r"(?<=\d) (?=\d)", ""),))):
        assert rebuild(json.loads(json.dumps(describe(tokenizer)))) == tokenizer  # through JSON text: lists become tuples again
    vocab = data.Vocab.build(["a b .", "b c"], level=cased)
    assert vocab.decode(vocab.encode("b a .", add_eos=True)) == "b a." and vocab.tokenizer is cased
    for bad, message in ((dict(pattern="(a)|b"), "no capturing groups"), (dict(pattern="("), "must be a regular expression"),
                         (dict(max_tokens=0), "max_tokens must be a positive int"), (dict(rules=(("a",),)), r"rules\[0\] must be")):
        with pytest.raises(ValueError, match=message):
            data.Tokenizer(**bad)
    with pytest.raises(ValueError, match="level must be one of"):
        data.Vocab(("a",), level="subword")


def test_a_vocabulary_with_a_tokenizer_survives_save_and_load(tmp_path):
    tokenizer = data.Tokenizer(r"\d|[^\W\d_]+", lower=True, rules=((r"(?<=\d) (?=\d)", ""),))
    vocab = data.Vocab.build(["two 4 0", "forty"], level=tokenizer)
    vocab.save(tmp_path / "v.json")
    assert data.Vocab.load(tmp_path / "v.json") == vocab and data.Vocab.load(tmp_path / "v.json").decode([4, 5]) != ""
    (tmp_path / "bad.json").write_text(json.dumps({"format": "seqjax.vocab/1", "tokens": ["a"], "level": {"type": "os.system", "args": {}}}))
    with pytest.raises(ValueError, match=r"bad.json: level: 'os.system' is not a class of the seqjax package"):
        data.Vocab.load(tmp_path / "bad.json")


def _words(n, offset=0):
    return [f"w{i + offset}" for i in range(n)]


@pytest.mark.slow  # ~18 s on 2 cores: every text decoded alone as well, both ways
def test_loaded_models_read_and_write_raw_text_as_the_array_calls_do(tmp_path):
    src = data.Vocab(data.vocab.SPECIALS + tuple(_words(10)), level=data.Tokenizer.word(lower=True))
    tgt = data.Vocab(data.vocab.SPECIALS + tuple(_words(8, 100)), level=data.Tokenizer(join="-"))
    model, params = MODELS["seq2seq (attention)"]
    seqjax.save_model(tmp_path / "s2s", model, params, vocabularies={"src": src, "tgt": tgt},
                      meta={"generate": {"method": "beam", "beam_width": 3, "max_length": 6, "batch_size": 2}})
    texts = ["w1 W2 w3", "w4", "w0 w9 w5 w6 w7", "w8 unknown"]
    loaded = seqjax.load(tmp_path / "s2s")
    for method in ("beam", "greedy"):
        got = loaded.generate(texts, method=method) if method == "greedy" else loaded.generate(texts)
        for text, answer in list(zip(texts, got))[::3]:  # two of them (two lengths), each as the array call decodes it alone
            ids = np.asarray([src.encode(text)])
            out = model.generate(params, ids, np.asarray([ids.shape[1]]), max_length=6, method=method, beam_width=3)
            best = np.asarray(out.tokens[0, 0] if method == "beam" else out.tokens[0])
            assert answer == tgt.decode(best) and "<" not in answer, (method, text)
    lm, lm_params = MODELS["recurrent LM"]
    chars = data.Vocab(tuple("abcdefghijkl"), level="char")
    seqjax.save_model(tmp_path / "lm", lm, lm_params, vocabularies={"vocab": chars}, meta={"generate": {"max_length": 5}})
    lm_loaded = seqjax.load(tmp_path / "lm")
    prompts = ["abc", "k", "def"]
    got = lm_loaded.generate(prompts)  # greedy, the default; prompts of two lengths in two batches
    for prompt, text in zip(prompts, got):
        out = lm.generate(lm_params, jnp.asarray([chars.encode(prompt)]), max_length=5, method="greedy")
        assert text == prompt + chars.decode(np.asarray(out.tokens[0]))
    sampled = lm_loaded.generate(["abc"], method="sample", key=KEY)
    want = lm.generate(lm_params, jnp.asarray([chars.encode("abc")]), max_length=5, method="sample", key=KEY)
    assert sampled == ["abc" + chars.decode(np.asarray(want.tokens[0]))]
    with pytest.raises(ValueError, match=r"prompts\[1\] has 1 token\(s\) outside the vocabulary, which has no <UNK>: \['z'\]"):
        lm_loaded.generate(["abc", "z"])
    with pytest.raises(TypeError, match="prompts must be a list of strings, got one string"):
        lm_loaded.generate("abc")
    with pytest.raises(TypeError, match="does not classify; use generate"):
        lm_loaded.predict(["abc"])


def test_a_loaded_classifier_predicts_class_names_from_raw_text(tmp_path):
    vocab = data.Vocab.build(["good fine great bad awful poor"], level=data.Tokenizer.word(max_tokens=4))
    model = Classifier(len(vocab), 2, TextCNN(6, (1, 2), 4), dropout=0.0)
    params = model.init(KEY)
    with pytest.raises(ValueError, match=r"meta\['classes'\] must name the model's 2 classes"):
        seqjax.save_model(tmp_path / "c", model, params, vocabularies={"vocab": vocab}, meta={"classes": ["one"]})
    with pytest.raises(ValueError, match=r"meta\['generate'\] has unknown option\(s\) \['beams'\]"):
        seqjax.save_model(tmp_path / "c", model, params, vocabularies={"vocab": vocab}, meta={"generate": {"beams": 2}})
    assert not (tmp_path / "c").exists()  # checked before anything is written
    seqjax.save_model(tmp_path / "c", model, params, vocabularies={"vocab": vocab}, meta={"classes": ["neg", "pos"]})
    loaded = seqjax.load(tmp_path / "c")
    texts = ["Good, great!", "awful poor bad", "fine", "good good good good bad bad"]
    logits = loaded.logits(texts, batch_size=3)
    for text, row in zip(texts, logits):  # one text at a time, ids cut at the tokenizer's 4 tokens
        ids = np.asarray([vocab.encode(text)])
        assert ids.shape[1] <= 4
        np.testing.assert_allclose(row, np.asarray(model.logits(params, ids, np.asarray([ids.shape[1]])))[0], rtol=1e-5, atol=1e-6)
    assert loaded.predict(texts) == [["neg", "pos"][i] for i in logits.argmax(-1)]
    np.testing.assert_allclose(loaded.probabilities(texts).sum(-1), 1.0, rtol=1e-6)
    with pytest.raises(TypeError, match="a Classifier does not generate text; use predict"):
        loaded.generate(texts)
    with pytest.raises(ValueError, match=r"texts\[1\] has no token \('  '\)"):
        loaded.predict(["good", "  "])
    seqjax.save_model(tmp_path / "bare", model, params)
    with pytest.raises(ValueError, match="was saved without the vocabulary 'vocab'"):
        seqjax.load(tmp_path / "bare").predict(["good"])
    with pytest.raises(CheckpointError, match=r"holds 2 saved models, not one: load one of .*bare, .*c$"):
        seqjax.load(tmp_path)  # a folder of several models (the sentiment and ontology runs): each is named
