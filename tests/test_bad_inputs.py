"""The bad-input catalogue: each case is a mistake a user makes, and the exact kind of outcome it must
get: an exception of a given type whose message names the argument (or the file and line) and what
was expected. None may end in a silent wrong result or in a traceback from inside JAX.

Cases are grouped by where the mistake is made: the library's objects and functions, training,
the data loaders and files, word vectors, and the command line. Files are written to a temporary
folder by the case itself.
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax
from seqjax import data, decoding, train
from seqjax.data import DataFormatError, DataNotFoundError, datasets
from seqjax.data.labelled import collate_labelled, labelled_batches
from seqjax.embeddings import Corpus, GloVe, SkipGram, Vectors, read_vectors
from seqjax.train import CheckpointError

KEY = jax.random.key(0)
LSTM = seqjax.LSTM(3, 4)
P = LSTM.init(KEY)
XS = jnp.ones((2, 5, 3))


def write(folder: pathlib.Path, relpath: str, text: str) -> pathlib.Path:
    path = folder / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _fit(loss=lambda p, b, k: (jnp.sum(p["w"] ** 2), {}), optimizer=None, **kw):
    optimizer = optimizer or train.optimizer(0.1)
    state = train.TrainState.create({"w": jnp.ones(2)}, optimizer, KEY)
    step = train.make_train_step(loss, optimizer)
    batches = data.Batches([{"x": np.ones(1)}] * 4, 1, lambda b: b[0])
    return train.fit(state, step, kw.pop("batches", batches), **{"steps": 2, **kw})


def _run_with_checkpoint(folder, config):
    run = train.Run(folder, config, checkpoint_every=1, tensorboard=False)
    run.checkpoints.save(train.TrainState.create({"w": jnp.ones(2)}, train.optimizer(0.1), KEY)._replace(step=jnp.int32(1)), {"data": {}})
    return run


LIBRARY = [
    ("cell size", lambda tmp: seqjax.LSTM(0, 4), ValueError, r"LSTM.input_size must be a positive int, got 0"),
    ("cell hidden size", lambda tmp: seqjax.GRU(3, -1), ValueError, r"GRU.hidden_size must be a positive int, got -1"),
    ("activation name", lambda tmp: seqjax.Elman(3, 4, activation="tanhh"), ValueError, r"tanhh"),
    ("integer inputs", lambda tmp: seqjax.unroll(LSTM, P, jnp.ones((2, 5, 3), jnp.int32)), TypeError, r"xs must be a float array"),
    ("feature size", lambda tmp: seqjax.unroll(LSTM, P, jnp.ones((2, 5, 4))), ValueError, r"xs must have shape \[batch, time, 3\]"),
    ("lengths shape", lambda tmp: seqjax.unroll(LSTM, P, XS, lengths=jnp.array([1, 2, 3])), ValueError, r"lengths must have shape \[2\]"),
    ("lengths dtype", lambda tmp: seqjax.unroll(LSTM, P, XS, lengths=jnp.array([1.0, 2.0])), TypeError, r"lengths must be an integer array"),
    ("lengths range", lambda tmp: seqjax.unroll(LSTM, P, XS, lengths=jnp.array([1, 9])), ValueError, r"lengths must lie in \[0, 5\]"),
    ("negative length", lambda tmp: seqjax.unroll(LSTM, P, XS, lengths=jnp.array([-1, 2])), ValueError, r"lengths must lie in \[0, 5\]"),
    ("another cell's params", lambda tmp: seqjax.unroll(LSTM, seqjax.GRU(3, 4).init(KEY), XS), ValueError,
     r"params\['b'\] has shape \(12,\), but LSTM\(input_size=3, hidden_size=4\) expects \(16,\)"),
    ("time-major 2-D input", lambda tmp: seqjax.unroll(LSTM, P, XS[0], time_major=True), ValueError, r"time_major=True expects xs \[time, batch"),
    ("stack dropout", lambda tmp: seqjax.Stack((LSTM,), dropout=1.5), ValueError, r"Stack.dropout must be a float in \[0, 1\)"),
    ("bidirectional merge", lambda tmp: seqjax.Bidirectional(LSTM, merge="mul"), ValueError, r"merge"),
    ("dense size", lambda tmp: seqjax.Dense(0, 3), ValueError, r"Dense.in_features must be a positive int"),
    ("dense input", lambda tmp: seqjax.Dense(8, 2)(seqjax.Dense(8, 2).init(KEY), jnp.ones((4, 3))), ValueError,
     r"Dense\(8, 2\) expects inputs \[..., 8\], got shape \(4, 3\)"),
    ("padding id", lambda tmp: seqjax.Embedding(5, 3, padding_id=7), ValueError, r"Embedding.padding_id must be an id in \[0, 5\)"),
    ("pretrained shape", lambda tmp: seqjax.Embedding(5, 3).init(KEY, pretrained=np.ones((5, 4))), ValueError,
     r"pretrained must have shape \[vocab_size, features\] = \[5, 3\]"),
    ("pretrained NaN", lambda tmp: seqjax.Embedding(2, 1).init(KEY, pretrained=np.array([[0.0], [np.nan]])), ValueError, r"NaN or inf"),
    ("heads", lambda tmp: seqjax.MultiHeadAttention(d_model=10, num_heads=3), ValueError, r"d_model \(10\) must be divisible by num_heads \(3\)"),
    ("step of a bidirectional cell", lambda tmp: seqjax.Bidirectional(LSTM).step(None, None, None), TypeError, r"needs the whole sequence"),
    ("decoding method", lambda tmp: decoding.check_method("top"), ValueError, r"method must be 'greedy', 'beam' or 'sample'"),
    ("forget bias NaN", lambda tmp: seqjax.LSTM(3, 4, forget_bias=float("nan")), ValueError, r"LSTM.forget_bias must be a finite number, got nan"),
    ("forget bias inf", lambda tmp: seqjax.PeepholeLSTM(3, 4, forget_bias=float("inf")), ValueError,
     r"PeepholeLSTM.forget_bias must be a finite number, got inf"),
    ("embedding stddev NaN", lambda tmp: seqjax.Embedding(5, 3, stddev=float("nan")), ValueError, r"Embedding.stddev must be a finite number > 0"),
    ("Hopfield gain inf", lambda tmp: seqjax.Hopfield(4, gain=float("inf")), ValueError, r"Hopfield.gain must be a finite number > 0, got inf"),
    ("variational dropout NaN", lambda tmp: seqjax.VariationalDropout(LSTM, input_rate=float("nan")), ValueError,
     r"VariationalDropout.input_rate must be a float in \[0, 1\), got nan"),
    ("transformer dropout NaN", lambda tmp: seqjax.attention.transformer.EncoderLayer(8, 2, dropout=float("nan")), ValueError,
     r"EncoderLayer.dropout must be a float in \[0, 1\), got nan"),
    ("NaN temperature", lambda tmp: decoding.sample(_table_step, jnp.zeros((3, 3)), None, jnp.array([0]), key=KEY, max_length=2,
                                                    temperature=float("nan")), ValueError, r"temperature must be a finite number >= 0 \(0 picks the most likely token\), got nan"),
    ("infinite temperature", lambda tmp: decoding.sample(_table_step, jnp.zeros((3, 3)), None, jnp.array([0]), key=KEY, max_length=2,
                                                         temperature=float("inf")), ValueError, r"temperature must be a finite number >= 0 \(0 picks the most likely token\), got inf"),
    ("NaN top_p", lambda tmp: decoding.sample(_table_step, jnp.zeros((3, 3)), None, jnp.array([0]), key=KEY, max_length=2,
                                              top_p=float("nan")), ValueError, r"top_p must lie in \(0, 1\]"),
    ("infinite length penalty", lambda tmp: decoding.beam(_table_step, jnp.zeros((3, 3)), None, jnp.array([0]), beam_width=2,
                                                                 max_length=2, eos_id=2, length_penalty=float("inf")), ValueError,
     r"length_penalty \(GNMT's α\) must be a finite number >= 0, got inf"),
    ("NaN length penalty", lambda tmp: decoding.beam(_table_step, jnp.zeros((3, 3)), None, jnp.array([0]), beam_width=2,
                                                            max_length=2, eos_id=2, length_penalty=float("nan")), ValueError,
     r"length_penalty \(GNMT's α\) must be a finite number >= 0, got nan"),
    ("to_torch of a reset-before GRU", lambda tmp: seqjax.to_torch(seqjax.GRU(3, 4), seqjax.GRU(3, 4).init(KEY)), TypeError,
     r"reset after the recurrent matmul"),
]

TRAINING = [
    ("labels shape", lambda tmp: train.cross_entropy(jnp.zeros((2, 3, 4)), jnp.zeros((2, 2), int)), ValueError, r"labels must have shape \(2, 3\)"),
    ("float labels", lambda tmp: train.cross_entropy(jnp.zeros((2, 4)), jnp.zeros(2)), TypeError, r"labels must be integer class ids"),
    ("label smoothing", lambda tmp: train.cross_entropy(jnp.zeros((2, 4)), jnp.zeros(2, int), label_smoothing=1.0), ValueError,
     r"label_smoothing must lie in \[0, 1\)"),
    ("negative label", lambda tmp: train.cross_entropy(jnp.zeros((2, 4)), jnp.array([1, -3])), ValueError, r"labels must lie in \[0, 4\)"),
    ("label past the classes", lambda tmp: train.cross_entropy(jnp.zeros((2, 4)), jnp.array([4, 0])), ValueError, r"got 4 at position \(0,\)"),
    ("NaN learning rate", lambda tmp: train.optimizer(float("nan")), ValueError, r"learning_rate must be a finite number > 0, got nan"),
    ("zero learning rate", lambda tmp: train.optimizer(0.0), ValueError, r"learning_rate must be a finite number > 0"),
    ("negative clip norm", lambda tmp: train.optimizer(0.1, clip_norm=-1.0), ValueError, r"gradient ascent"),
    ("optimizer name", lambda tmp: train.optimizer(0.1, name="adagrad"), ValueError, r"optimizer name must be one of"),
    ("negative warmup", lambda tmp: train.optimizer(0.1, warmup_steps=-1), ValueError, r"warmup_steps must be >= 0"),
    ("checkpoint interval", lambda tmp: train.Checkpointer(tmp / "c", every=0), ValueError, r"every and keep must be >= 1"),
    ("empty run directory", lambda tmp: train.Run(""), ValueError, r"the run directory must be named"),
    ("negative steps", lambda tmp: _fit(steps=-1), ValueError, r"steps must be >= 0"),
    # a non-finite step: fit names which of loss, gradient and update it was, with advice for that one
    ("NaN loss", lambda tmp: _fit(loss=lambda p, b, k: (jnp.sum(p["w"]) * jnp.nan, {})), train.NonFiniteError,
     r"the loss was non-finite at step 1 \(loss=nan\): check that batch's inputs, lengths and labels"),
    ("infinite gradient", lambda tmp: _fit(loss=lambda p, b, k: (jnp.sum(jnp.sqrt(p["w"] - 1.0)), {})), train.NonFiniteError,
     r"the gradient was non-finite at step 1 \(loss=0.0, grad_norm=inf\): lower the learning rate or clip gradients \(train.optimizer"),
    ("NaN optimizer hyperparameter", lambda tmp: _fit(optimizer=__import__("optax").adam(float("nan"))), train.NonFiniteError,
     r"the update was non-finite at step 1 although the loss \(2.0\) and the gradient \(norm 2.82.*\) were finite: the optimizer"),
    ("log interval", lambda tmp: _fit(log_every=0), ValueError, r"log_every must be >= 1"),
    ("plain iterator with a run", lambda tmp: _fit(batches=iter([{"x": 1}] * 3), run=train.Run(tmp / "r", tensorboard=False)), TypeError,
     r"batches must have state\(\) and restore\(\)"),
    ("early stopping without evaluations", lambda tmp: _fit(early_stopping=train.EarlyStopping("loss")), ValueError,
     r"early_stopping watches evaluations"),
    ("early stopping min_delta NaN", lambda tmp: train.EarlyStopping("loss", min_delta=float("nan")), ValueError,
     r"EarlyStopping.min_delta must be a finite number >= 0, got nan"),
    ("early stopping mode", lambda tmp: train.EarlyStopping("loss", mode="lowest"), ValueError, r"EarlyStopping.mode must be 'min' or 'max'"),
    ("resume with other settings", lambda tmp: (_run_with_checkpoint(tmp / "r", {"lr": 0.1}), train.Run(tmp / "r", {"lr": 0.2})),
     CheckpointError, r"other settings \(--lr=0.1 there, 0.2 here\)"),
    ("malformed metrics line", lambda tmp: (write(tmp, "r/metrics.jsonl", '{"step": 1}\nnot json\n{"step": 2}\n'),
                                            train.Run(tmp / "r", tensorboard=False).metrics()), CheckpointError, r"metrics.jsonl, line 2"),
    ("restore another model's checkpoint", lambda tmp: (_run_with_checkpoint(tmp / "r", None),
                                                        train.Checkpointer(tmp / "r" / "checkpoints").restore(
                                                            train.TrainState.create({"w": jnp.ones(3)}, train.optimizer(0.1), KEY))),
     CheckpointError, r"saved by a run with different parameter or state shapes"),
    ("a shard that does not divide the batch", lambda tmp: data.TokenStream(np.arange(500), 6, 5, shard=(0, 4)), ValueError,
     r"batch_size=6 does not divide over 4 processes"),
    ("a shard index out of range", lambda tmp: data.Batches(list(range(8)), 4, list, shard=(3, 2)), ValueError,
     r"shard=\(3, 2\): the index must be in \[0, 2\)"),
    ("a shard that is not a pair", lambda tmp: data.Batches(list(range(8)), 4, list, shard=2), ValueError,
     r"shard must be \(process_index, process_count\), got 2"),
    ("processes without a coordinator", lambda tmp: train.distributed.initialize(processes=2, process_id=0), ValueError,
     r"give the coordinator address, the number of processes and this process's id together"),
    ("no processes to launch", lambda tmp: __import__("seqjax.train.launch", fromlist=["launch"]).launch(["true"], 0), ValueError,
     r"--processes must be >= 1, got 0"),
]

DATA = [
    ("float token ids", lambda tmp: data.pad([[1.7, 2.2]]), TypeError, r"seqs\[0\] must be a sequence of int token ids, got float64 values \[1.7, 2.2\]"),
    ("token id past the vocabulary", lambda tmp: data.pad([[1, 2], [3, 9]], vocab_size=5), ValueError,
     r"seqs\[1\] holds id 9, outside the vocabulary \[0, 5\)"),
    ("negative token id", lambda tmp: data.pad([[3, -1]]), ValueError, r"seqs\[0\] holds id -1, outside the vocabulary"),
    ("decoding float ids", lambda tmp: data.Vocab.build([["a", "b"]]).decode([4.0, 5.7]), TypeError,
     r"decode: ids must be a sequence of int token ids, got float64 values \[4.0, 5.7\]"),
    ("decoding an id past the vocabulary", lambda tmp: data.Vocab.build([["a"]]).decode([4, 7]), ValueError,
     r"id 7 is out of range for a vocabulary of size 5"),
    ("restore a negative position", lambda tmp: data.Batches(list(range(8)), 4, list).restore({"epoch": 0, "index": -3}), ValueError,
     r"data state \{'epoch': 0, 'index': -3\} is not a position of these batches: .* 'index' in \[0, 2\]"),
    ("restore past the end of an epoch", lambda tmp: data.Batches(list(range(8)), 4, list).restore({"epoch": 1, "index": 3}), ValueError,
     r"is not a position of these batches"),
    ("restore a negative epoch", lambda tmp: data.TokenStream(np.arange(500), 4, 5).restore({"epoch": -1, "index": 0}), ValueError,
     r"'epoch' must be >= 0"),
    ("restore a fractional position", lambda tmp: data.Batches(list(range(8)), 4, list).restore({"epoch": 0, "index": 1.5}), ValueError,
     r"data state must be a dict with integer 'epoch' and 'index'"),
    ("float labels in a batch", lambda tmp: collate_labelled([([1, 2], 1.7), ([3], 0)]), TypeError,
     r"labels must be int class ids, got float64 values \[1.7, 0.0\]"),
    ("float ids in a batch", lambda tmp: collate_labelled([([1, 5.7], 1)]), TypeError, r"seqs\[0\] must be a sequence of int token ids"),
    ("text longer than every bucket", lambda tmp: labelled_batches([([1] * 9, 0), ([2], 1)], 1, buckets=(4,), truncate=False), ValueError,
     r"example 0 has 9 tokens, more than the largest bucket \(4\), and truncate=False; 1 example\(s\) are that long"),
    ("vocabulary of nothing", lambda tmp: data.Vocab.build([]), ValueError, r"Vocab.build: the corpus has no token: a vocabulary needs at least one word"),
    ("vocabulary under min_freq", lambda tmp: data.Vocab.build([["a", "b"]], min_freq=2), ValueError,
     r"the corpus has 2 distinct token\(s\), none seen min_freq=2 times"),
    ("empty MR file", lambda tmp: (write(tmp, "mr/rt-polarity.pos", ""), write(tmp, "mr/rt-polarity.neg", "bad\n"), datasets.mr(tmp)),
     DataFormatError, r"rt-polarity.pos: the file is empty"),
    ("empty WordSim file", lambda tmp: datasets.word_similarity("wordsim353", write(tmp, "w.tsv", "")), DataFormatError, r"w.tsv: the file is empty"),
    ("WordSim file of comments only", lambda tmp: datasets.word_similarity("wordsim353", write(tmp, "w.tsv", "# Word 1\tWord 2\tHuman\n")),
     DataFormatError, r"w.tsv: no word pairs"),
    ("empty Multi30k split", lambda tmp: (_gz(tmp / "multi30k/val.de.gz", ""), _gz(tmp / "multi30k/val.en.gz", "a\n"),
                                          datasets.multi30k("val", tmp)), DataFormatError, r"val.de.gz: the file is empty"),
    ("DBpedia file cut inside a quoted text", lambda tmp: datasets.dbpedia("train", write(tmp, "dbpedia/train.csv",
                                                                                          '1,"Title","Text"\n2,"Title","Cut mid-')),
     DataFormatError, r"train.csv, line 2: unreadable CSV row \(unexpected end of data\)"),
    ("ontology CSV with a stray quote", lambda tmp: datasets.labelled_texts(write(tmp, "o.csv", 'a,"one"\nb,"tw"o"\n')), DataFormatError,
     r"o.csv, line 2: unreadable CSV row"),
    ("vocabulary duplicates", lambda tmp: data.Vocab(("a", "a")), ValueError, r"tokens must be unique, got duplicates \['a'\]"),
    ("min_freq", lambda tmp: data.Vocab.build([["a"]], min_freq=0), ValueError, r"min_freq must be >= 1"),
    ("batch size", lambda tmp: data.Batches([1, 2], 0, list), ValueError, r"batch_size must be >= 1"),
    ("fewer examples than a batch", lambda tmp: data.Batches([1, 2], 4, list), ValueError, r"examples has 2 items, fewer than one batch"),
    ("token stream too short", lambda tmp: data.TokenStream(np.arange(10), batch_size=4, window=8), ValueError,
     r"a stream of 10 tokens is too short for batch_size=4 x window=8"),
    ("missing file", lambda tmp: datasets.tiny_shakespeare(tmp / "nowhere.txt"), DataNotFoundError, r"no such file"),
    ("empty text", lambda tmp: datasets.tiny_shakespeare(write(tmp, "t.txt", "")), DataFormatError, r"the file is empty"),
    ("undecodable bytes", lambda tmp: (tmp / "bad.txt").write_bytes(b"ok\n\xff\xfe\n") and datasets.tiny_shakespeare(tmp / "bad.txt"),
     DataFormatError, r"bad.txt, line 2: cannot decode"),
    ("empty MR line", lambda tmp: (write(tmp, "mr/rt-polarity.pos", "good\n\nfine\n"), write(tmp, "mr/rt-polarity.neg", "bad\n"),
                                   datasets.mr(tmp)), DataFormatError, r"rt-polarity.pos, line 2: empty line"),
    ("multi30k split", lambda tmp: datasets.multi30k("dev"), ValueError, r"split must be one of \('train', 'val', 'test_2016_flickr'\)"),
    ("analogy with three words", lambda tmp: datasets.analogies(write(tmp, "q.txt", ": s\na b c d\na b c\n")), DataFormatError,
     r"q.txt, line 3: expected 4 words"),
    ("analogy before a section", lambda tmp: datasets.analogies(write(tmp, "q.txt", "a b c d\n")), DataFormatError,
     r"line 1: question before the first ': section' header"),
    ("similarity score", lambda tmp: datasets.word_similarity("wordsim353", write(tmp, "w.tsv", "a\tb\thigh\n")), DataFormatError, r"w.tsv, line 1"),
    ("damaged file in the data dir", lambda tmp: _damaged_in_data_dir(tmp), DataFormatError, r"not the published file's .* truncated"),
    ("DBpedia row cut short", lambda tmp: datasets.dbpedia("train", write(tmp, "dbpedia/train.csv", '1,"Title","Text"\n2,"Cut\n')),
     DataFormatError, r"train.csv"),
]


def _gz(path: pathlib.Path, text: str) -> pathlib.Path:
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()))
    return path


def _table_step(params, state, token):
    return state, params[token]


def _damaged_in_data_dir(tmp):
    import os

    write(tmp, "data/analogy/questions-words.txt", ": capital-common-countries\nAthens Greece Baghdad Iraq\n")
    os.environ["SEQJAX_DATA_DIR"] = str(tmp / "data")
    try:
        return datasets.analogies()
    finally:
        del os.environ["SEQJAX_DATA_DIR"]


WORD_VECTORS = [
    ("ragged vectors", lambda tmp: read_vectors(write(tmp, "v.txt", "a 1 2\nb 1\n")), DataFormatError, r"v.txt, line 2"),
    ("lying header", lambda tmp: read_vectors(write(tmp, "v.txt", "3 2\na 1 2\nb 1 2\n")), DataFormatError, r"v.txt"),
    ("not a number", lambda tmp: read_vectors(write(tmp, "v.txt", "a 1 x\n")), DataFormatError, r"v.txt, line 1"),
    ("NaN vector", lambda tmp: read_vectors(write(tmp, "v.txt", "a 1 nan\n")), DataFormatError, r"v.txt, line 1"),
    ("duplicate word in a file", lambda tmp: read_vectors(write(tmp, "v.txt", "a 1 2\na 3 4\n")), DataFormatError, r"v.txt, line 2"),
    ("vectors of mixed sizes", lambda tmp: Vectors(["a", "b"], np.ones((3, 2))), ValueError, r"matrix must have shape \[len\(words\)=2, dim\]"),
    ("duplicate word", lambda tmp: Vectors(["a", "a"], np.ones((2, 2))), ValueError, r"word 'a' is given twice"),
    ("unknown word", lambda tmp: Vectors(["a"], np.ones((1, 2)))["zebra"], KeyError, r"zebra"),
    ("corpus min_count", lambda tmp: Corpus.build([["a"]], min_count=0), ValueError, r"min_count must be >= 1"),
    ("corpus of strings", lambda tmp: Corpus.build(["a b c"]), TypeError, r"sentences\[0\] must be a list of str tokens"),
    ("no word frequent enough", lambda tmp: Corpus.build([["a", "b"]], min_count=5), ValueError, r"no word occurs at least min_count=5 times"),
    ("subsampling rate", lambda tmp: SkipGram(sample=2.0), ValueError, r"SkipGram.sample must lie in \[0, 1\)"),
    ("GloVe cutoff", lambda tmp: GloVe(x_max=0), ValueError, r"GloVe.x_max must be a finite number > 0"),
    ("WordNet line", lambda tmp: (write(tmp, "wn/data.noun", "00001 03 n zz dog 0\n"), [write(tmp, f"wn/data.{p}", "") for p in ("verb", "adj", "adv")],
                                  list(__import__("seqjax.embeddings.wordnet", fromlist=["synsets"]).synsets(tmp / "wn"))),
     DataFormatError, r"data.noun, line 1: not a WordNet data line"),
]

COMMAND_LINE = [
    ("unknown option", lambda tmp: _parse(["--stepz=3"]), SystemExit, r"unknown option --stepz"),
    ("value type", lambda tmp: _parse(["--train_steps=many"]), SystemExit, r"--train_steps expects int, got 'many'"),
    ("boolean value", lambda tmp: _parse(["--gensim=maybe"], "embeddings"), SystemExit, r"--gensim expects a boolean \(true/false\)"),
    ("no value", lambda tmp: _parse(["--train"], "embeddings"), SystemExit, r"arguments must look like --field=value"),
    ("NaN on the command line", lambda tmp: _parse(["--learning_rate=nan"], "numbers"), SystemExit, r"--learning_rate expects a finite number, got 'nan'"),
    ("inf on the command line", lambda tmp: _parse(["--dropout=inf"], "sentiment"), SystemExit, r"--dropout expects a finite number, got 'inf'"),
    ("bad experiment setting", lambda tmp: _embeddings_main(tmp, train="word3vec"), SystemExit, r"--train must be one of"),
]


def _parse(argv, name="vanishing_gradients"):
    import importlib

    from seqjax.train.config import parse_config

    module = importlib.import_module(f"experiments.{name}")
    return parse_config(module.Config(), argv)


def _embeddings_main(tmp, **kw):
    from experiments import embeddings

    return embeddings.main(embeddings.Config(out_dir=str(tmp / "run"), **kw))


CASES = [(group, *case) for group, cases in (("library", LIBRARY), ("training", TRAINING), ("data", DATA), ("word vectors", WORD_VECTORS),
                                              ("command line", COMMAND_LINE)) for case in cases]


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 60 and len({name for _, name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize("group,name,make,error,message", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_bad_input_gets_a_clear_error(group, name, make, error, message, tmp_path):
    with jax.numpy_dtype_promotion("standard"), pytest.raises(error, match=message) as raised:
        make(tmp_path)
    assert "jax._src" not in str(raised.value) and not type(raised.value).__module__.startswith("jax")


# --- cells and unroll, eagerly and under jit (was tests/test_errors.py) ---

@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("xs,error,message", [
    (jnp.ones((2, 5, 4)), ValueError, r"xs must have shape \[batch, time, 3\] .* got shape \(2, 5, 4\)"),
    (jnp.ones((5,)), ValueError, r"xs must have shape .* got shape \(5,\)"),
    (jnp.ones((1, 2, 5, 3)), ValueError, r"xs must have shape"),
    (jnp.ones((2, 5, 3), jnp.int32), TypeError, r"xs must be a float array .* int32"),
    (jnp.ones((2, 5, 3), bool), TypeError, r"xs must be a float array"),
])
def test_bad_xs(xs, error, message, jit):
    f = jax.jit(lambda xs: seqjax.unroll(LSTM, P, xs)) if jit else (lambda xs: seqjax.unroll(LSTM, P, xs))
    with pytest.raises(error, match=message):
        f(xs)


@pytest.mark.parametrize("lengths,error,message", [
    (jnp.array([5, 6]), ValueError, r"lengths must lie in \[0, 5\] .* \[5, 6\]"),
    (jnp.array([-1, 2]), ValueError, r"lengths must lie in \[0, 5\]"),
    (jnp.array([5, 2, 1]), ValueError, r"lengths must have shape \[2\] \(one length per sequence\), got shape \(3,\)"),
    (jnp.array([[5, 2]]), ValueError, r"lengths must have shape \[2\]"),
    (jnp.array([5.0, 2.0]), TypeError, r"lengths must be an integer array, got dtype float32"),
])
def test_bad_lengths(lengths, error, message):
    with pytest.raises(error, match=message):
        seqjax.unroll(LSTM, P, XS, lengths=lengths)


def test_bad_lengths_under_jit_shape_and_dtype():
    f = jax.jit(lambda lengths: seqjax.unroll(LSTM, P, XS, lengths=lengths))
    with pytest.raises(ValueError, match=r"lengths must have shape \[2\]"):
        f(jnp.array([1, 2, 3]))
    with pytest.raises(TypeError, match="integer"):
        f(jnp.array([1.0, 2.0]))


def test_unbatched_lengths_must_be_scalar():
    with pytest.raises(ValueError, match="a scalar"):
        seqjax.unroll(LSTM, P, XS[0], lengths=jnp.array([3]))


def test_params_from_a_different_cell_size():
    other = seqjax.LSTM(3, 8).init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"params\['b'\] has shape \(32,\), but LSTM\(input_size=3, hidden_size=4\) expects \(16,\)"):
        seqjax.unroll(LSTM, other, XS)
    with pytest.raises(ValueError, match="params do not match LSTM"):
        seqjax.unroll(LSTM, seqjax.GRU(3, 4, reset_after=True).init(jax.random.key(0)), XS)
    with pytest.raises(ValueError, match="params do not match"):
        jax.jit(lambda p: seqjax.unroll(LSTM, p, XS))({"wx": P["wx"]})


def test_bad_initial_state():
    with pytest.raises(ValueError, match=r"initial_state must match LSTM.initial_state\(2\)"):
        seqjax.unroll(LSTM, P, XS, initial_state=LSTM.initial_state(3))
    with pytest.raises(ValueError, match="initial_state must match"):
        seqjax.unroll(LSTM, P, XS, initial_state=seqjax.RNNState(jnp.zeros((2, 4))))


def test_not_a_cell():
    with pytest.raises(TypeError, match="cell must be a seqjax cell"):
        seqjax.unroll(lambda s, x: (s, x), P, XS)


@pytest.mark.parametrize("make,message", [
    (lambda: seqjax.LSTM(0, 4), r"LSTM.input_size must be a positive int, got 0"),
    (lambda: seqjax.GRU(3, 2.5), r"GRU.hidden_size must be a positive int"),
    (lambda: seqjax.Elman(3, 4, activation="tanhh"), r"unknown activation 'tanhh'; expected one of"),
    (lambda: seqjax.MinGRU(3, 4, mode="fast"), r"MinGRU.mode must be one of"),
    (lambda: seqjax.VariationalDropout(LSTM, input_rate=1.0), r"input_rate must be a float in \[0, 1\)"),
    (lambda: seqjax.VariationalDropout(seqjax.Stack((LSTM,)), recurrent_rate=0.5), r"recurrent_rate needs a cell whose state's first field is its fed-back output h; Stack's is not"),
    (lambda: seqjax.Stack((seqjax.LSTM(3, 4), seqjax.LSTM(5, 4))), r"Stack.layers\[1\].input_size is 5, but layer 0 outputs 4"),
    (lambda: seqjax.Stack(()), "non-empty"),
    (lambda: seqjax.Bidirectional(LSTM, merge="mean"), "merge must be 'concat' or 'sum'"),
    (lambda: seqjax.Hopfield(4, gain=0.0), "Hopfield.gain must be a finite number > 0, got 0.0"),
])
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bidirectional_has_no_step():
    cell = seqjax.Bidirectional(LSTM)
    with pytest.raises(TypeError, match="whole sequence"):
        cell.step(cell.init(jax.random.key(0)), cell.initial_state(2), XS[:, 0])


# --- outcomes that are not errors: what a metric counts, what a batch cuts ---


def test_a_metric_never_counts_a_row_it_could_not_score():
    # under jit lengths and labels cannot be checked: a row with a length past the padding (its logits NaN)
    # or a label outside the classes is counted as invalid, and in no other metric
    from seqjax.models import Classifier

    model = Classifier(10, 2, seqjax.GRU(4, 4), dropout=0.0)
    params = model.init(KEY)
    ids = jnp.asarray(np.random.default_rng(0).integers(4, 10, (4, 5)), jnp.int32)
    batch = {"ids": ids, "lengths": jnp.array([5, 9, 3, 2]), "labels": jnp.array([0, 1, 7, 1])}
    got = train.evaluate(train.make_eval_step(model.loss), params, [batch])
    predicted = np.asarray(model.predict(params, ids[jnp.array([0, 3])], jnp.array([5, 2])))  # the two rows that can be scored
    assert got["invalid"] == 2.0 and got["examples"] == 2.0 and np.isnan(got["loss_nats"])
    assert got["accuracy"] == float(np.mean(predicted == np.array([0, 1])))
    assert np.sum(got["confusion"]) == 2  # the invalid rows are in no cell of the confusion matrix
    clean = train.evaluate(train.make_eval_step(model.loss), params, [{k: v[jnp.array([0, 3])] for k, v in batch.items()}])
    assert clean["invalid"] == 0.0 and {k: v for k, v in got.items() if k not in ("invalid", "loss_nats")} == \
        {k: v for k, v in clean.items() if k not in ("invalid", "loss_nats")}


def test_a_text_longer_than_every_bucket_is_cut_only_with_a_warning_that_counts_them():
    examples = [([1] * 9, 0), ([2] * 12, 1), ([3], 0)]
    with pytest.warns(UserWarning, match=r"2 of 3 texts are longer than the largest bucket \(4\) and are cut to it \(the longest has 12"):
        batches = labelled_batches(examples, 3, buckets=(4,), shuffle=False)
    assert next(batches)["ids"].shape == (3, 4)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sorted(next(labelled_batches(examples, 3, buckets=(4,), shuffle=False, truncate=True))["lengths"].tolist()) == [1, 4, 4]

