"""Every experiment: ``--help``, a clear error for missing data, and a smoke run of a few steps
with a tiny config (loss finite and falling, the run directory complete)."""

import dataclasses
import json
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

import seqjax
from seqjax import data
from tests.test_checkpoint import _text

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if "\nclass Config:" in p.read_text())  # not the harness


def _fresh_load(directory, call: str, tmp_path, **files):
    """``seqjax.load(directory)`` (``loaded``; None: none) and ``call`` in a new interpreter run outside the
    project (no experiment code can be imported there: that is checked), with ``files`` (arrays as
    .npy, the rest as JSON) readable as ``inputs[name]``; the call's result, through JSON."""
    folder = tmp_path / "fresh"
    folder.mkdir(exist_ok=True)
    for name, value in files.items():
        if isinstance(value, np.ndarray):
            np.save(folder / f"{name}.npy", value)
        else:
            (folder / f"{name}.json").write_text(json.dumps(value))
    script = f"""
import json, pathlib, sys
import jax, numpy as np, seqjax
folder = pathlib.Path({str(folder)!r})
inputs = {{p.stem: np.load(p) if p.suffix == ".npy" else json.loads(p.read_text()) for p in folder.iterdir() if p.suffix in (".npy", ".json")}}
loaded = seqjax.load({str(directory)!r}) if {directory is not None} else None
result = {call}
assert not any(name == "experiments" or name.startswith("experiments.") for name in sys.modules)
print(json.dumps(result))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_help_lists_the_config_fields(name):
    result = subprocess.run([sys.executable, "-m", f"experiments.{name}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "options (--field=value; --flag alone sets a boolean):" in result.stdout and "--out_dir=" in result.stdout


def test_missing_data_is_one_clear_line_not_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "experiments.char_lm", f"--data={tmp_path / 'nowhere'}", f"--out_dir={tmp_path / 'run'}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("error: tinyshakespeare/input.txt: no such file") and "Traceback" not in result.stderr


@pytest.mark.slow
def test_char_lm_smoke(tmp_path):
    from experiments import char_lm

    config = char_lm.Config(data=str(_text(tmp_path)), out_dir=str(tmp_path / "run"), steps=40, hidden=32, embed=16,
                            batch=8, window=16, log_every=5, eval_every=20, eval_windows=2, save_every=20, sample_chars=30,
                            warmup_steps=5, learning_rate=1e-2)
    with jax.numpy_dtype_promotion("standard"):
        result = char_lm.main(config)
    run = tmp_path / "run"
    train_losses = [m["loss"] for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if m["split"] == "train"]
    assert np.all(np.isfinite(train_losses)) and train_losses[-1] < 0.9 * train_losses[0]
    assert result["eval"]["loss_bits"] < result["first_train"]["loss_bits"]
    assert {"config.json", "vocab.json", "metrics.jsonl", "curves.png", "checkpoints", "samples"} <= {p.name for p in run.iterdir()}
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_20.txt", "step_40.txt"]
    assert json.loads((run / "config.json").read_text())["hidden"] == 32
    loaded = seqjax.load(run / "model")  # the run's model rebuilt from JSON alone, with its vocabulary
    assert loaded.model == char_lm.build_model(char_lm.resolve(config), len(loaded.vocabularies["vocab"]))
    assert loaded.vocabularies["vocab"] == data.Vocab.load(run / "vocab.json") and loaded.meta["config"]["hidden"] == 32
    # a fresh process draws the run's last sample again from raw text: the same prime, key and sampling settings
    prime = "".join(c for c in config.prime if c in loaded.vocabularies["vocab"])
    got = _fresh_load(run, f"loaded.generate([{prime!r}], key=jax.random.fold_in(jax.random.key(0), 10**6 + 40))", tmp_path)
    assert got == [(run / "samples" / "step_40.txt").read_text()]


@pytest.mark.slow
def test_char_lm_bfloat16_remat_smoke(tmp_path):
    from experiments import char_lm

    config = char_lm.Config(data=str(_text(tmp_path)), out_dir=str(tmp_path / "run"), steps=20, hidden=16, embed=8, batch=4,
                            window=8, log_every=5, eval_every=0, eval_windows=1, sample_chars=5, cell="gru",
                            precision="bfloat16", remat=True, learning_rate=1e-2, warmup_steps=0)
    with jax.numpy_dtype_promotion("standard"):
        result = char_lm.main(config)
    assert np.isfinite(result["eval"]["loss_bits"])


@pytest.mark.slow
def test_char_lm_transformer_smoke(tmp_path):
    from experiments import char_lm

    text = _text(tmp_path)
    config = char_lm.Config(data=str(text), out_dir=str(tmp_path / "run"), model="transformer", steps=40, hidden=32,
                            heads=2, layers=2, batch=8, window=16, log_every=5, eval_every=20, eval_windows=2, save_every=20,
                            sample_chars=40, warmup_steps=5, learning_rate=1e-2)
    with jax.numpy_dtype_promotion("standard"):
        result = char_lm.main(config)
    run = tmp_path / "run"
    train_losses = [m["loss"] for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if m["split"] == "train"]
    assert np.all(np.isfinite(train_losses)) and train_losses[-1] < 0.8 * train_losses[0]
    assert result["eval"]["loss_bits"] < result["first_train"]["loss_bits"]
    sample = (run / "samples" / "step_40.txt").read_text()
    prime = "".join(c for c in "ROMEO:" if c in (text / "tinyshakespeare" / "input.txt").read_text())  # those in the vocabulary
    assert sample.startswith(prime) and len(sample) == len(prime) + 40  # 40 characters: past the context of 16
    saved = json.loads((run / "config.json").read_text())
    assert (saved["model"], saved["layers"], saved["hidden"], saved["learning_rate"]) == ("transformer", 2, 32, 1e-2)
    # the trained model as a Hugging Face folder: transformers reads the same text as the same ids and gives the same logits
    transformers, torch = pytest.importorskip("transformers"), pytest.importorskip("torch")
    from seqjax.interop import gpt2

    loaded = seqjax.load(run)
    assert np.abs(np.asarray(loaded.params["readout"]["b"])).max() > 1e-3  # a trained readout bias: folded into ln_f on export
    gpt2.export(run, tmp_path / "hf")
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    line = sample[:16]
    ids = tokenizer(line)["input_ids"]
    assert ids == loaded.vocabularies["vocab"].encode(line) and tokenizer.decode(ids) == line
    with torch.no_grad():
        want = hf(torch.tensor([ids])).logits.numpy()
    assert np.abs(np.asarray(loaded.model.logits(loaded.params, np.asarray([ids])))[0] - want[0]).max() < 1e-4


@pytest.mark.slow
def test_numbers_smoke_and_translate_without_retraining(tmp_path, capsys):
    from experiments import numbers

    config = numbers.Config(out_dir=str(tmp_path / "run"), steps=40, embed=16, hidden=24, batch=32, log_every=10, eval_every=20,
                            save_every=20, eval_per_length=3, learning_rate=1e-2, warmup_steps=5)
    with jax.numpy_dtype_promotion("standard"):
        result = numbers.main(config)
    run = tmp_path / "run"
    losses = [m["loss"] for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if m["split"] == "train"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0]
    assert set(result["greedy"]) == set(result["beam"]) == {"words->digits en", "words->digits fr", "digits->words en", "digits->words fr"}
    assert all(0.0 <= v <= 1.0 for v in result["beam"].values())
    assert sorted(p.name for p in (run / "attention").iterdir()) == ["digits_en.png", "digits_fr.png", "words_en.png", "words_fr.png"]
    assert {"model", "results.json", "src_vocab.json", "tgt_vocab.json", "curves.png"} <= {p.name for p in run.iterdir()}
    loaded = seqjax.load(run / "model")
    assert loaded.model == numbers.build_model(config, loaded.vocabularies["src"], loaded.vocabularies["tgt"])
    assert loaded.vocabularies["src"] == data.Vocab.load(run / "src_vocab.json")
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("quatre cent douze\n412\none hundred and twelve\n")
    with jax.numpy_dtype_promotion("standard"):
        answers = numbers.main(dataclasses.replace(config, translate_file=str(phrases), language="fr"))["translations"]
    # one line out per line in, in order (a 40-step model is not yet right, but digits answer words and words digits)
    assert len(answers) == 3 and answers[0].isdigit() and not answers[1].isdigit() and answers[2].isdigit()
    # the same answers from raw text in a fresh process with no experiment code (the language tag written out)
    assert _fresh_load(run, "loaded.generate(['quatre cent douze', '<fr> 412', 'One hundred and twelve'])", tmp_path) == answers
    shutil.rmtree(run / "model")  # a run killed before it exported its model: the newest checkpoint answers
    with jax.numpy_dtype_promotion("standard"):
        assert len(numbers.main(dataclasses.replace(config, translate="douze"))["translations"]) == 1
    assert f"using {run / 'checkpoints' / '40'}" in capsys.readouterr().out
    bad = subprocess.run([sys.executable, "-m", "experiments.numbers", f"--out_dir={tmp_path / 'untrained'}", "--translate=douze"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "holds no trained run (config.json is missing)" in bad.stderr and "Traceback" not in bad.stderr


def _multi30k(folder):
    """A tiny parallel corpus in Multi30k's layout: German words that map one to one to English ones."""
    import gzip

    words = {"ein": "a", "mann": "man", "hund": "dog", "läuft": "runs", "schläft": "sleeps", "frau": "woman", "rot": "red"}
    rng = np.random.default_rng(0)
    de_words = list(words)
    for split, n in (("train", 300), ("val", 20), ("test_2016_flickr", 12)):
        lines = [[de_words[i] for i in rng.integers(len(de_words), size=rng.integers(2, 6))] for _ in range(n)]
        for language, text in (("de", [" ".join(ws).capitalize() + "." for ws in lines]),
                               ("en", [" ".join(words[w] for w in ws).capitalize() + "." for ws in lines])):
            (folder / "multi30k").mkdir(parents=True, exist_ok=True)
            (folder / "multi30k" / f"{split}.{language}.gz").write_bytes(gzip.compress("\n".join(text).encode()))
    return folder


@pytest.mark.slow
def test_translate_smoke_bleu_and_translate_a_sentence(tmp_path):
    from experiments import translate

    config = translate.Config(data=str(_multi30k(tmp_path / "data")), out_dir=str(tmp_path / "run"), steps=30, embed=16, hidden=16,
                              readout_hidden=16, batch=16, log_every=10, eval_every=15, save_every=15, min_freq=1, max_length=10,
                              learning_rate=1e-2, warmup_steps=0, dropout=0.1, beam_width=2)
    with jax.numpy_dtype_promotion("standard"):
        result = translate.main(config)
    run = tmp_path / "run"
    losses = [m["loss"] for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if m["split"] == "train"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    for method in ("greedy", "beam"):
        assert 0.0 <= result[method]["sacrebleu_cased"] <= 100.0 and 0.0 <= result[method]["bleu_lowercased_tokens"] <= 100.0
        assert len((run / f"hypotheses.{method}.en").read_text().splitlines()) == 12
    assert len(list((run / "attention").glob("*.png"))) == 3
    _same_translations_from_raw_text(run, tmp_path)
    out = subprocess.run([sys.executable, "-m", "experiments.translate", f"--out_dir={run}", "--translate=Ein Hund schläft, Zebra."],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "2 unknown word(s) read as <UNK>: , Zebra" in out.stdout  # this corpus has no commas either


@pytest.mark.slow
def test_translate_transformer_with_bpe_smoke_and_translate_a_sentence(tmp_path):
    pytest.importorskip("tokenizers", reason="--tokenizer=bpe needs the 'hf' extra (tokenizers)")
    from experiments import translate

    config = translate.Config(data=str(_multi30k(tmp_path / "data")), out_dir=str(tmp_path / "run"), model="transformer", steps=40,
                              d_model=16, heads=2, layers=1, d_ff=32, batch=16, log_every=10, eval_every=20, save_every=20,
                              tokenizer="bpe", bpe_size=300, max_length=12, learning_rate=1e-2, warmup_steps=5, beam_width=2)
    with jax.numpy_dtype_promotion("standard"):
        result = translate.main(config)
    run = tmp_path / "run"
    losses = [m["loss"] for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if m["split"] == "train"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0]
    saved = json.loads((run / "config.json").read_text())
    assert (saved["dropout"], saved["label_smoothing"]) == (0.1, 0.1)  # the transformer's defaults, resolved and saved
    for method in ("greedy", "beam"):
        assert 0.0 <= result[method]["bleu_lowercased_tokens"] <= 100.0
        assert len((run / f"hypotheses.{method}.en").read_text().splitlines()) == 12
    assert len(list((run / "attention").glob("*.png"))) == 3  # the last layer's cross-attention
    vocab = seqjax.data.Vocab.load(run / "tgt_vocab.json")  # byte-level BPE learnt on the training split, specials first
    assert type(vocab).__name__ == "SubwordVocab" and len(vocab) <= 300 and vocab.tokens[:4] == seqjax.data.vocab.SPECIALS
    _same_translations_from_raw_text(run, tmp_path)  # the BPE vocabularies travel with the model
    out = subprocess.run([sys.executable, "-m", "experiments.translate", f"--out_dir={run}", "--translate=Ein Hund schläft."],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "using" in out.stdout and len(out.stdout.strip().splitlines()) == 2


@pytest.mark.slow
def test_gpt2_demo_on_a_random_checkpoint(tmp_path, capsys):
    pytest.importorskip("transformers", reason="the demo builds its random GPT-2 with transformers (the 'hf' extra)")
    from experiments import gpt2_demo

    with jax.numpy_dtype_promotion("standard"):
        result = gpt2_demo.main(gpt2_demo.Config(out_dir=str(tmp_path / "run"), max_length=6, beam_width=2))
    assert "no --checkpoint given: built a random-initialised 2-layer GPT-2" in capsys.readouterr().out and result["random"]
    for name in ("sample", "beam"):
        assert result[name]["text"].startswith("The little dog") and len(result[name]["log_probs"]) == len(result[name]["tokens"]) <= 6
        assert all(lp <= 0 for lp in result[name]["log_probs"])
    # the search's own score and one pass of logits agree on the beam's log-probability
    assert result["beam"]["sum_log_prob"] == pytest.approx(result["beam"]["score_from_search"], abs=1e-3)
    assert (tmp_path / "run" / "attention.png").stat().st_size > 5_000


def _same_translations_from_raw_text(run, tmp_path):
    """The test set's German sentences, translated in a fresh process by ``seqjax.load(run)``, are the
    experiment's hypotheses files line for line (beam search: the saved method; and greedy)."""
    import gzip

    german = gzip.decompress((tmp_path / "data" / "multi30k" / "test_2016_flickr.de.gz").read_bytes()).decode().splitlines()
    got = _fresh_load(run, "[loaded.generate(inputs['german']), loaded.generate(inputs['german'], method='greedy')]", tmp_path,
                      german=german)
    assert got == [(run / f"hypotheses.{method}.en").read_text().splitlines() for method in ("beam", "greedy")]


def test_translate_detokenizer_and_bleu():
    from experiments import translate

    tokens = translate.tokenize("A man (in red) says: \"hi\", and the T-shirt's fine.")
    assert tokens[:4] == ["A", "man", "(", "in"] and tokens[-5:] == ["T", "-", "shirt's", "fine", "."]
    for text in ("A man (in red) walks, fast.", "A blue-eyed girl's T-shirt!"):
        assert translate.detokenize(translate.tokenize(text)) == text
    scores = translate.bleu([translate.tokenize("A dog runs.")] * 2, ["A dog runs.", "a dog runs."])
    assert scores["bleu_lowercased_tokens"] == pytest.approx(100.0) and scores["sacrebleu_cased"] < 100.0


# --- many to one and one to many ----------------------------------------------------------------------

POSITIVE, NEGATIVE = "good great fine superb lovely".split(), "bad awful poor dull boring".split()
FILLER = "the film a movie is was and of plot acting".split()


def _sentences(rng, words, n):
    return [" ".join(rng.choice(FILLER + [rng.choice(words)] * 3, size=rng.integers(3, 12))) + " ." for _ in range(n)]


def _mr(folder, n=60):
    rng = np.random.default_rng(0)
    (folder / "mr").mkdir(parents=True)
    for suffix, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
        (folder / "mr" / f"rt-polarity.{suffix}").write_bytes("\n".join(_sentences(rng, words, n)).encode("cp1252") + b"\n")
    return folder


@pytest.mark.slow
def test_sentiment_smoke_folds_resume_and_vectors(tmp_path, capsys):
    from experiments import sentiment

    data = _mr(tmp_path)
    vectors = tmp_path / "vectors.txt"
    rng = np.random.default_rng(1)
    vectors.write_text("".join(f"{w} " + " ".join(f"{v:.3f}" for v in rng.normal(size=8)) + "\n" for w in POSITIVE + ["film"]))
    config = sentiment.Config(data=str(data / "mr"), models=("bilstm", "cnn_rand", "cnn_gru"), vectors=str(vectors), folds=3,
                              run_folds=2, epochs=4, batch=10, embed=8, hidden=8, feature_maps=4, region_sizes=(2, 3), learning_rate=1e-2,
                              out_dir=str(tmp_path / "run"))
    with jax.numpy_dtype_promotion("standard"):
        result = sentiment.main(config)
    assert "--vectors: 6 of the" in capsys.readouterr().out
    names = ["bilstm", "cnn_rand", "cnn_gru", "cnn_static", "cnn_non_static", "cnn_multichannel"]
    assert [row["model"] for row in result["table"]] == names and all(row["folds"] == 2 for row in result["table"])
    for name in names:
        for fold in result["results"][name].values():
            losses = fold["train_losses"]
            assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], (name, losses)
    assert max(row["mean"] for row in result["table"]) > 80  # the words give the label away
    assert {"results.json", "summary.json", "accuracy.png", "models"} <= {p.name for p in (tmp_path / "run").iterdir()}
    # each model of the first fold, loaded in a fresh process, classifies that fold's raw test texts as the run scored them
    pairs = seqjax.data.datasets.mr(str(data / "mr"))
    fold = seqjax.data.labelled.stratified_folds([y for _, y in pairs], 3, 0)
    texts, labels = [t for (t, _), f in zip(pairs, fold) if f == 0], np.array([y for (_, y), f in zip(pairs, fold) if f == 0])
    got = _fresh_load(None, "{n: seqjax.load(f'" + str(tmp_path / "run" / "models") + "/{n}').predict(inputs['texts']) "
                      "for n in inputs['names']}", tmp_path, texts=texts, names=names)
    for name in names:
        assert set(got[name]) <= {"negative", "positive"}
        accuracy = np.mean((np.array(got[name]) == "positive") == labels)
        assert accuracy == pytest.approx(result["results"][name]["0"]["test_accuracy"], abs=1e-6), name
    with jax.numpy_dtype_promotion("standard"):  # a rerun finds every fold done and trains nothing
        again = sentiment.main(dataclasses.replace(config, models=("cnn_rand",)))
    assert "fold" not in capsys.readouterr().out.split("running 2")[1].split("| model")[0]
    assert again["results"]["cnn_rand"] == result["results"]["cnn_rand"]
    with pytest.raises(SystemExit, match="holds results of another configuration"):
        sentiment.main(dataclasses.replace(config, epochs=1))
    with pytest.raises(SystemExit, match="--pooling must be one of"):
        sentiment.main(dataclasses.replace(config, pooling="avg"))
    with pytest.raises(SystemExit, match="has 8-dimensional vectors but --embed=16"):
        sentiment.main(dataclasses.replace(config, embed=16, out_dir=str(tmp_path / "other")))


def _ontology_csv(path, n, header=False):
    from seqjax.data import datasets

    rng = np.random.default_rng(len(path.name))  # the same rows wherever pytest puts tmp_path
    classes = datasets.dbpedia_classes()[:4]
    lines = ["class,title,content"] if header else []
    for i in range(n):
        y = i % 4
        words = rng.choice(FILLER + [classes[y].lower()] * 4, size=rng.integers(4, 14))
        lines.append(f'{y + 1},"Title {i}","{" ".join(words)}, and more."')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_ontology_smoke_on_a_dbpedia_folder_and_on_your_own_csv(tmp_path):
    from experiments import ontology

    _ontology_csv(tmp_path / "data/dbpedia/train.csv", 120)
    _ontology_csv(tmp_path / "data/dbpedia/test.csv", 40)
    config = ontology.Config(data=str(tmp_path / "data"), models=("word_cnn", "char_cnn", "word_bigru"), epochs=4, batch=16,
                             learning_rate=1e-2,
                             embed=8, char_embed=8, hidden=8, feature_maps=6, max_chars=60, out_dir=str(tmp_path / "run"))
    with jax.numpy_dtype_promotion("standard"):
        results = ontology.main(config)
    for name, r in results.items():
        assert np.all(np.isfinite(r["train_losses"])) and r["train_losses"][-1] < r["train_losses"][0], name
        assert len(r["per_class_accuracy"]) == 14 and np.asarray(r["confusion"]).sum() == 40
        assert (tmp_path / "run" / name / "confusion.png").stat().st_size > 10_000
    assert results["word_cnn"]["accuracy"] > 0.5
    # every model, loaded in a fresh process, classifies the raw test rows as the run scored them (accuracy and confusion)
    rows = seqjax.data.datasets.dbpedia("test", str(tmp_path / "data"))
    texts, labels = [f"{title}. {content}" for _, title, content in rows], [y for y, _, _ in rows]
    got = _fresh_load(None, "{n: seqjax.load(f'" + str(tmp_path / "run") + "/{n}/model').predict(inputs['texts']) "
                      "for n in inputs['names']}", tmp_path, texts=texts, names=list(results))
    classes = seqjax.data.datasets.dbpedia_classes()
    for name, r in results.items():
        predicted = [classes.index(c) for c in got[name]]
        assert np.mean(np.array(predicted) == labels) == pytest.approx(r["accuracy"], abs=1e-6), name
        confusion = np.zeros((14, 14), int)
        np.add.at(confusion, (labels, predicted), 1)
        assert (confusion == np.asarray(r["confusion"])).all(), name
    # your own CSV: a header, the label in another column, classes found in the file, a held-out tenth
    own = tmp_path / "own.csv"
    own.write_text("id,text,label\n" + "".join(f'{i},"{"great fun" if i % 2 else "dull plot"} {i}",{"pos" if i % 2 else "neg"}\n'
                                              for i in range(60)))
    with jax.numpy_dtype_promotion("standard"):
        mine = ontology.main(dataclasses.replace(config, data="", train_file=str(own), columns=("-", "text", "label"), header=True,
                                                 models=("word_cnn",), out_dir=str(tmp_path / "own")))
    assert mine["word_cnn"]["per_class_accuracy"].keys() == {"neg", "pos"} and np.asarray(mine["word_cnn"]["confusion"]).sum() == 6
    bad = tmp_path / "bad.csv"
    bad.write_text('1,"a","b"\n2,"c"\n')
    with pytest.raises(Exception, match="bad.csv, line 2: expected 3 fields"):
        ontology.main(dataclasses.replace(config, train_file=str(bad)))
    with pytest.raises(SystemExit, match="--columns names each CSV column"):
        ontology.main(dataclasses.replace(config, columns=("text", "text")))


@pytest.mark.slow
def test_caption_smoke(tmp_path):
    from experiments import caption

    config = caption.Config(steps=50, batch=8, image_size=32, channels=(3, 8, 8, 8), learning_rate=1e-2, warmup_steps=0, embed=8,
                            hidden=16, attention_size=8, test_images=8, log_every=5, eval_every=25, save_every=25, out_dir=str(tmp_path))
    with jax.numpy_dtype_promotion("standard"):
        results = caption.main(config)
    for kind in ("init", "attend"):
        losses = [m["loss"] for m in map(json.loads, (tmp_path / kind / "metrics.jsonl").read_text().splitlines()) if m["split"] == "train"]
        assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], (kind, losses)
        assert set(results[kind]["greedy"]) == {"held-out combinations", "seen combinations, new images"}
        assert (tmp_path / kind / "captions.png").stat().st_size > 10_000
        assert (tmp_path / kind / "model").is_dir()
    assert len(list((tmp_path / "attend" / "attention").glob("*.png"))) == 4
    # both captioners, loaded in a fresh process, caption the images the run showed as the run did
    images = caption.test_sets(config, config.test_images)["held-out combinations"][0][:12]
    got = _fresh_load(None, "[seqjax.load(f'" + str(tmp_path) + "/{k}/model').generate(inputs['images']) for k in ('init', 'attend')]",
                      tmp_path, images=np.asarray(images))
    assert got == [(tmp_path / kind / "captions.txt").read_text().splitlines() for kind in ("init", "attend")]
    assert json.loads((tmp_path / "results.json").read_text()).keys() == {"init", "attend"}


# --- word vectors ------------------------------------------------------------------------------------


def test_embeddings_experiment_smoke(tmp_path):
    from experiments import embeddings
    from seqjax.embeddings import debias

    rng = np.random.default_rng(0)
    words = sorted({w for pair in debias.DEFINITIONAL + debias.EQUALIZE for w in pair} | set(debias.OCCUPATIONS[:20]) | {"day", "year"})
    g = rng.normal(size=10)
    rows = [rng.normal(size=10) + (2.0 if w in {a for a, _ in debias.EQUALIZE} or w in debias.OCCUPATIONS[:5] else 0.0) * g
            for w in words]
    (tmp_path / "data" / "analogy").mkdir(parents=True)
    (tmp_path / "data" / "wordsim").mkdir()
    vectors_file = tmp_path / "vectors.txt"
    vectors_file.write_text("".join(w + " " + " ".join(f"{v:.5f}" for v in r) + "\n" for w, r in zip(words, rows)))
    (tmp_path / "data" / "analogy" / "questions-words.txt").write_text(
        ": family\nman woman king queen\nboy girl son daughter\nhe she his her\nbrother sister dragon unicorn\n")
    pairs = "".join(f"{a}\t{b}\t{rng.uniform(0, 10):.1f}\n" for a, b in debias.EQUALIZE[:8])
    (tmp_path / "data" / "wordsim" / "wordsim353.tsv").write_text("# gold\n" + pairs)
    (tmp_path / "data" / "wordsim" / "simlex999.txt").write_text("# gold\n" + pairs)
    (tmp_path / "graph.txt").write_text("king queen prince\nday year\nnurse teacher dragon\n")
    config = embeddings.Config(vectors=str(vectors_file), data=str(tmp_path / "data"), words=("king", "day", "dragon"),
                               neighbours=3, graph=str(tmp_path / "graph.txt"), iterations=5, out_dir=str(tmp_path / "run"))
    report = embeddings.main(config)
    assert set(report["neighbours"]) == {"king", "day"} and len(report["neighbours"]["king"]) == 3
    assert report["before"]["analogies_3cosadd"]["questions"] == 4 and report["before"]["analogies_3cosadd"]["covered"] == 3
    assert report["before"]["wordsim353"]["covered"] == 8
    assert report["debias"]["after"]["direct_bias_on_the_original_direction"] < 1e-5 < report["debias"]["before"]["direct_bias"]
    objective = report["retrofit"]["objective"]
    assert report["retrofit"]["unknown"] == 1 and all(b <= a for a, b in zip(objective, objective[1:]))
    assert {"report.json", "pca.png", "tsne.png", "bands.png", "retrofitted.txt"} <= {p.name for p in (tmp_path / "run").iterdir()}


@pytest.mark.parametrize("name", ["char_lm", "translate"])
def test_a_bad_transformer_config_fails_before_anything_is_written(tmp_path, name):
    import importlib

    module = importlib.import_module(f"experiments.{name}")
    config = module.Config(model="transformer", heads=3, out_dir=str(tmp_path / "run"), data=str(tmp_path / "no_data"))
    with pytest.raises(SystemExit, match=r"error: MultiHeadAttention.d_model \(\d+\) must be divisible by num_heads \(3\)"):
        module.main(config)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_embeddings_experiment_trains_vectors_resumes_and_compares_with_gensim(tmp_path):
    from experiments import embeddings

    rng = np.random.default_rng(0)
    topics = [[f"a{i}" for i in range(5)], [f"b{i}" for i in range(5)]]
    (tmp_path / "text.txt").write_text("".join(" ".join(rng.choice(topics[k % 2], 6)) + "\n" for k in range(300)))
    (tmp_path / "data" / "analogy").mkdir(parents=True)
    (tmp_path / "data" / "wordsim").mkdir()
    (tmp_path / "data" / "analogy" / "questions-words.txt").write_text(": t\na0 a1 b0 b1\na2 a3 b2 b3\na0 a4 b0 zz\n")
    pairs = "a0\ta1\t9.0\na0\tb1\t1.0\nb2\tb3\t8.5\na2\tb4\t0.5\na3\ta4\t9.5\n"
    for name in ("wordsim353.tsv", "simlex999.txt"):
        (tmp_path / "data" / "wordsim" / name).write_text("# gold\n" + pairs)
    config = embeddings.Config(train="skipgram", corpus=str(tmp_path / "text.txt"), min_count=1, dim=8, epochs=5, sample=0.0, gensim=True,
                               data=str(tmp_path / "data"), words=("a0",), neighbours=3, plot_words=("a0", "a1", "b0", "b1"),
                               out_dir=str(tmp_path / "run"))
    report = embeddings.main(config)
    assert report["training"]["objective"] == "skipgram" and report["training"]["vocab"] == 10
    assert all(w.startswith("a") for w, _ in report["neighbours"]["a0"])
    assert report["before"]["analogies_3cosadd"]["covered"] == 2 and report["before"]["wordsim353"]["covered"] == 5
    assert report["training"]["gensim"]["measures"]["wordsim353"]["covered"] == 5
    assert (tmp_path / "run" / "train" / "checkpoints").is_dir() and (tmp_path / "run" / "vectors.txt").is_file()
    again = embeddings.main(config)  # the run directory holds the finished run: it resumes at its end
    np.testing.assert_allclose(again["neighbours"]["a0"][0][1], report["neighbours"]["a0"][0][1])


@pytest.mark.parametrize("bad, message", [(dict(train="word3vec"), "--train must be one of"),
                                          (dict(train="glove", corpus="no_such_corpus"), "--corpus must be one of"),
                                          (dict(train="skipgram", dim=0), "SkipGram.dim must be a positive int"),
                                          (dict(train="glove", gensim=True), "--gensim compares")])
def test_a_bad_embeddings_config_fails_before_anything_is_written(tmp_path, bad, message):
    from experiments import embeddings

    with pytest.raises(SystemExit, match=message):
        embeddings.main(embeddings.Config(out_dir=str(tmp_path / "run"), **bad))
    assert not (tmp_path / "run").exists()


def _modules_with_a_config():
    import importlib
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    names = [f"{folder}.{p.stem}" for folder in ("experiments", "benchmarks") for p in sorted((root / folder).glob("*.py"))
             if not p.stem.startswith("_")]
    return [m for m in (importlib.import_module(n) for n in names) if hasattr(m, "Config")]


@pytest.mark.parametrize("module", _modules_with_a_config(), ids=lambda m: m.__name__)
def test_help_shows_defaults_the_command_line_takes_back(module):
    import re

    from seqjax.train.config import help_text, parse_config

    default = module.Config()
    lines = [re.fullmatch(r"  --(\w+)=(.*?) *\(([^()]*)\)", line) for line in help_text(default).splitlines()[1:]]
    assert all(lines), help_text(default)
    assert parse_config(default, [f"--{m[1]}={m[2]}" for m in lines]) == default


def test_a_boolean_flag_alone_sets_it():
    from experiments import embeddings
    from seqjax.train.config import parse_config

    assert parse_config(embeddings.Config(), ["--gensim"]).gensim is True
    assert parse_config(embeddings.Config(), ["--gensim=false"]).gensim is False
    with pytest.raises(SystemExit, match="must look like --field=value"):
        parse_config(embeddings.Config(), ["--train"])  # a string field still needs its value


def test_embeddings_corpora_are_read_as_lowercased_token_lists(tmp_path):
    from experiments import embeddings

    (tmp_path / "corpora").mkdir()
    (tmp_path / "corpora" / "lee_background.cor").write_text("Hundreds of people FLED.\nThe fire spread")
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text("First Citizen:\nBefore we proceed\n\nSpeak, speak.\n")
    read = lambda corpus: embeddings.sentences(embeddings.Config(corpus=corpus, data=str(tmp_path)))  # noqa: E731
    assert read("lee") == [["hundreds", "of", "people", "fled."], ["the", "fire", "spread"]]
    assert read("shakespeare") == [["first", "citizen:"], ["before", "we", "proceed"], ["speak,", "speak."]]
