"""Every ```python block of the README and every ``>>>`` example of a docstring runs, so they cannot drift.

Each README block runs as written in a fresh namespace holding only what its prose says it is given
(a batch, a key, a text, ...), built here small; the working directory is a temporary folder, so
files the examples write land there. The word-vector block needs the real GloVe sample, analogy and
WordSim files and is skipped without ../shared/data.
"""

import dataclasses
import doctest
import importlib
import os
import pathlib
import pkgutil
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax
from tests.conftest import process_env

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def _seq2seq_inputs():
    from seqjax.data import GO_ID, pairs, Vocab

    src, tgt = Vocab.build([["ein", "hund", "läuft"], ["eine", "katze"]]), Vocab.build([["a", "dog", "runs"], ["a", "cat"]])
    examples = [([4, 5, 6], [4, 5, 6]), ([7, 8], [4, 7])]
    batch = pairs.collate_pairs(examples)
    assert len(src) < 8019 and len(tgt) < 6278
    return {"batch": batch, "key": jax.random.key(0), "start_tokens": jnp.full((2,), GO_ID)}


def _classifier_inputs():
    from seqjax.data import Vocab

    vocab = Vocab.build([["a", "fine", "film"], ["a", "dull", "one"]])
    rng = np.random.default_rng(0)
    return {"vocab": vocab, "key": jax.random.key(0), "ids": jnp.asarray(rng.integers(4, len(vocab), (2, 6))),
            "lengths": jnp.array([6, 4]), "labels": jnp.array([1, 0]),
            "vectors": rng.normal(size=(len(vocab), 300)).astype(np.float32),
            "images": jnp.asarray(rng.random((2, 32, 32, 3)), jnp.float32)}


def _word_vector_inputs():
    from seqjax.data import Vocab

    if not (SHARED / "glove").is_dir():
        pytest.skip("../shared/data is absent: the block reads the real GloVe sample, analogy and WordSim files")
    os.environ["SEQJAX_DATA_DIR"] = str(SHARED)
    return {"vocab": Vocab.build([["the", "government", "said"]]), "key": jax.random.key(0)}


def _training_vectors_inputs():
    rng = np.random.default_rng(0)
    topics = [[f"a{i}" for i in range(5)], [f"b{i}" for i in range(5)]]
    pathlib.Path("text.txt").write_text("".join(" ".join(rng.choice(topics[k % 2], 8)) + "\n" for k in range(200)))
    return {}


def _training_inputs():
    cell = seqjax.LSTM(8, 16)
    keys = jax.random.split(jax.random.key(0), 3)
    text = "to be, or not to be: that is the question. " * 120
    vocab_size = len(set(text))
    params = {"cell": cell.init(keys[0]), "embed": 0.1 * jax.random.normal(keys[1], (vocab_size, 8)),
              "out": 0.1 * jax.random.normal(keys[2], (16, vocab_size))}

    @dataclasses.dataclass(frozen=True)
    class Config:
        hidden: int = 16

    return {"text": text, "cell": cell, "params": params, "key": jax.random.key(1), "config": Config()}


INPUTS = {"Quickstart": dict, "eine katze schläft": dict, "Seq2Seq.recurrent": _seq2seq_inputs, "Classifier(vocab_size": _classifier_inputs,
          "MultiHeadAttention(d_model": dict, "Vectors.load": _word_vector_inputs, "train_vectors": _training_vectors_inputs,
          "TokenStream(vocab.encode(text)": _training_inputs}


def _inputs_for(block: str):
    found = [make for marker, make in INPUTS.items() if marker in block]
    return found[0] if found else dict


def test_every_readme_block_is_covered():
    assert len(BLOCKS) >= 7
    markers = [m for m in INPUTS if m != "Quickstart"]
    assert all(sum(m in b for b in BLOCKS) == 1 for m in markers), "a marker names no block or several"


_DISTRIBUTED_GIVEN = '''
import jax, numpy as np, seqjax
cell = seqjax.GRU(4, 8)
params = {"embed": 0.1 * jax.random.normal(jax.random.key(0), (11, 4)), "cell": cell.init(jax.random.key(1)),
          "out": 0.1 * jax.random.normal(jax.random.key(2), (8, 11))}
ids = np.arange(4000) % 11

def loss_fn(params, batch, key, carry):
    ys, carry = seqjax.unroll(cell, params["cell"], params["embed"][batch["ids"]], initial_state=carry)
    loss, sums = train.cross_entropy(ys @ params["out"], batch["targets"])
    return loss, (sums, carry)

optimizer = train.optimizer(1e-2)
state = train.TrainState.create(params, optimizer, jax.random.key(3), carry=cell.initial_state(32))
step = train.make_train_step(loss_fn, optimizer)
'''


def _run_distributed_block(block: str, tmp_path) -> None:
    """The multi-process block runs as written, as two processes under the launcher, with what its prose
    gives built right after ``initialize`` (before which no JAX computation may run)."""
    import subprocess
    import sys

    head, tail = block.split("train.distributed.initialize()", 1)
    first_line_end = tail.index("\n") + 1
    script = head + "train.distributed.initialize()" + tail[:first_line_end] + _DISTRIBUTED_GIVEN + tail[first_line_end:]
    script = script.replace("steps=2000", "steps=3")
    (tmp_path / "block.py").write_text(script)
    done = subprocess.run([sys.executable, "-m", "seqjax.train.launch", "--processes=2", "--", sys.executable, "block.py"],
                          cwd=tmp_path, env={**process_env(None), "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "step 3/3" in done.stderr + done.stdout and (tmp_path / "runs" / "lm" / "checkpoints" / "3").is_dir()


@pytest.mark.parametrize("index", range(len(BLOCKS)))
@pytest.mark.slow
def test_readme_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEQJAX_DATA_DIR", os.environ.get("SEQJAX_DATA_DIR", str(tmp_path / "no_data")))
    block = BLOCKS[index]
    if "train.distributed.initialize()" in block:
        return _run_distributed_block(block, tmp_path)
    namespace = _inputs_for(block)()
    with jax.numpy_dtype_promotion("standard"):  # as a user's script runs
        exec(compile(block, f"README.md block {index + 1}", "exec"), namespace)


def _modules():
    for info in pkgutil.walk_packages(seqjax.__path__, "seqjax."):
        yield importlib.import_module(info.name)


@pytest.mark.slow
def test_docstring_examples_run():
    import torch

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tried = 0
    with jax.numpy_dtype_promotion("standard"):
        for module in _modules():
            for test in finder.find(module, globs={"jax": jax, "jnp": jnp, "np": np, "seqjax": seqjax, "torch": torch,
                                                   **vars(module)}):
                if test.examples:
                    tried += len(test.examples)
                    runner.run(test)
    result = runner.summarize(verbose=False)
    assert tried >= 13 and result.failed == 0, f"{result.failed} of {tried} docstring examples failed (see the output above)"


@pytest.mark.slow
def test_the_api_reference_builds_from_the_docstrings(tmp_path):
    import subprocess
    import sys

    pytest.importorskip("pdoc", reason="the 'docs' extra (also in 'test') installs pdoc")
    result = subprocess.run([sys.executable, "-m", "pdoc", "seqjax", "-o", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    page = (tmp_path / "seqjax" / "embeddings" / "word2vec.html").read_text()
    assert "SkipGram" in page and "negative sampling" in page
    assert (tmp_path / "seqjax" / "train.html").is_file() and (tmp_path / "index.html").is_file()
