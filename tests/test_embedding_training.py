"""Training word vectors: the corpus's examples against plain loops (and gensim's subsampling), the
objectives' gradients against finite differences and jax.grad, the sparse updates against dense
ones, exact resume, the finiteness guard, and tiny runs that learn a corpus with known structure."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from seqjax.embeddings.batches import EpochBatches
from seqjax.embeddings.corpus import Corpus
from seqjax.embeddings.glove import GloVe, entry_loss
from seqjax.embeddings.next_word import NextWord
from seqjax.embeddings.sparse import adagrad_rows, chunked_step, noise_table
from seqjax.embeddings.training import train_vectors
from seqjax.embeddings.word2vec import SkipGram, pair_gradients, pair_loss
from seqjax.train import Run, TrainState

SENTENCES = [s.split() for s in [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the mat and the log",
    "cat dog cat dog", "on the mat the cat sat", "rare words appear once here"]]


def test_corpus_vocabulary_counts_and_ids():
    corpus = Corpus.build(SENTENCES, min_count=2)
    counts = collections.Counter(w for s in SENTENCES for w in s)
    assert corpus.words[0] == "the" and list(corpus.counts) == [counts[w] for w in corpus.words]
    assert list(corpus.counts) == sorted(corpus.counts, reverse=True) and all(counts[w] >= 2 for w in corpus.words)
    kept = [w for s in SENTENCES for w in s if counts[w] >= 2]
    assert [corpus.words[i] for i in corpus.ids] == kept and corpus.raw_words == sum(map(len, SENTENCES))
    assert list(corpus.sentence[:6]) == [0] * 6
    with pytest.raises(ValueError, match="min_count=50"):
        Corpus.build(SENTENCES, min_count=50)
    with pytest.raises(TypeError, match=r"sentences\[0\] must be a list of str"):
        Corpus.build(["the cat sat"])


def test_skipgram_pairs_equal_a_loop_over_the_same_draws():
    corpus = Corpus.build(SENTENCES * 3, min_count=1)
    window, sample = 3, 0.05
    centers, contexts = corpus.skipgram_pairs(np.random.default_rng(7), window=window, sample=sample, shuffle=False)
    rng = np.random.default_rng(7)  # the loop, written from the definition, draws in the same order
    keep = rng.random(len(corpus.ids)) < corpus.keep_probability(sample)[corpus.ids]
    ids, sentence = corpus.ids[keep], corpus.sentence[keep]
    reach = window - rng.integers(0, window, len(ids))
    expected = [(ids[i], ids[j]) for i in range(len(ids)) for j in range(len(ids))
                if i != j and abs(i - j) <= reach[i] and sentence[i] == sentence[j]]
    assert sorted(zip(centers.tolist(), contexts.tolist())) == sorted((int(a), int(b)) for a, b in expected)
    assert corpus.skipgram_pairs(np.random.default_rng(7), window=window, sample=sample, count_only=True) == len(expected)


def test_subsampling_keeps_what_gensim_keeps():
    gensim = pytest.importorskip("gensim")
    sentences = [f"w{i % 7} w{i % 3} the the the a a".split() for i in range(300)]
    model = gensim.models.Word2Vec(min_count=1, sample=1e-2, vector_size=8)
    model.build_vocab(sentences)
    corpus = Corpus.build(sentences, min_count=1)
    ours = corpus.keep_probability(1e-2)
    theirs = [model.wv.get_vecattr(w, "sample_int") / 2**32 for w in corpus.words]
    np.testing.assert_allclose(ours, theirs, atol=1e-7)
    assert ours[corpus.words.index("the")] < 0.5 and np.all(corpus.keep_probability(0.0) == 1)


def test_cooccurrence_and_next_word_examples_equal_loops():
    corpus = Corpus.build(SENTENCES, min_count=1)
    rows, cols, values = corpus.cooccurrence(window=3)
    expected = collections.defaultdict(float)
    for s in SENTENCES:
        ids = corpus.encode(s)
        for i in range(len(ids)):
            for j in range(len(ids)):
                if 0 < abs(i - j) <= 3:
                    expected[(ids[i], ids[j])] += 1.0 / abs(i - j)
    got = {(int(r), int(c)): float(v) for r, c, v in zip(rows, cols, values)}
    assert got.keys() == expected.keys() and all(abs(got[k] - expected[k]) < 1e-5 for k in got)

    contexts, targets = corpus.next_word_examples(order=2)
    start = len(corpus)
    loop = [([start, start] + list(corpus.encode(s)))[t:t + 2] for s in SENTENCES for t in range(len(s))]
    assert contexts.tolist() == loop and targets.tolist() == corpus.ids.tolist()


def test_noise_table_follows_the_distribution():
    p = np.array([0.5, 0.3, 0.2 - 1e-7, 1e-7])
    table = noise_table(p, size=1000)
    assert len(table) == 1000 and list(np.bincount(table, minlength=4)) == [500, 300, 200, 0]
    with pytest.raises(ValueError, match="sums to 1"):
        noise_table(np.array([0.5, 0.6]))


@pytest.mark.slow
def test_objectives_gradients_against_finite_differences():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        v, u_pos, u_neg = (jnp.asarray(rng.normal(size=s)) for s in ((4, 3), (4, 3), (4, 2, 3)))
        w_pos, w_neg = jnp.asarray([1.0, 1.0, 0.0, 1.0]), jnp.asarray(rng.integers(0, 2, (4, 2)).astype(float))
        check_grads(lambda v, a, b: pair_loss(v, a, b, w_pos, w_neg), (v, u_pos, u_neg), order=2, modes=["rev"])
        rows = [jnp.asarray(rng.normal(size=s)) for s in ((5, 3), (5, 3), (5,), (5,))]
        x, weight = jnp.asarray([0.5, 3.0, 120.0, 1.0, 9.0]), jnp.asarray([1.0, 1.0, 1.0, 0.0, 1.0])
        check_grads(lambda *r: entry_loss(*r, x, weight, 10.0, 0.75), rows, order=2, modes=["rev"])
        objective = NextWord(dim=3, order=2, hidden=4)
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), objective.init(jax.random.key(0), 6))
        batch = {"contexts": jnp.asarray([[5, 1], [2, 3], [0, 0]]), "targets": jnp.asarray([1, 4, 2]), "valid": jnp.asarray([True, True, False])}
        check_grads(lambda p: objective.loss(p, batch)[0], (params,), order=1, modes=["rev"])


@pytest.mark.slow
def test_written_out_gradients_equal_jax_grad():
    rng = np.random.default_rng(1)
    v, u = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32), jnp.asarray(rng.normal(size=(6, 3, 4)), jnp.float32)
    weights = jnp.asarray(rng.integers(0, 2, (6, 3)), jnp.float32)
    loss, gv, gu = pair_gradients(v, u, weights)
    ref_loss, (ref_gv, ref_gu) = jax.value_and_grad(lambda v, u: pair_loss(v, u[:, 0], u[:, 1:], weights[:, 0], weights[:, 1:]), (0, 1))(v, u)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(gv, ref_gv, atol=1e-5)
    np.testing.assert_allclose(gu, ref_gu, atol=1e-5)


@pytest.mark.slow
def test_sparse_sgd_step_equals_the_dense_gradient_step():
    corpus = Corpus.build(SENTENCES, min_count=1)
    objective = SkipGram(dim=4, negative=3)
    params = objective.init(jax.random.key(0), len(corpus))
    params["output"] = 0.1 * jax.random.normal(jax.random.key(1), params["output"].shape)
    batch = {"centers": jnp.asarray([0, 0, 3, 5]), "contexts": jnp.asarray([1, 2, 0, 0]), "valid": jnp.asarray([True, True, True, False])}
    negatives = jnp.asarray([[1, 4, 4], [2, 6, 0], [7, 0, 1], [2, 2, 2]])  # repeats, and a noise word equal to the context
    new, loss, _ = objective.sgd_update(params, batch, negatives, 0.1)
    dense_loss, grads = jax.value_and_grad(objective.loss)(params, batch, negatives)
    for name in params:
        np.testing.assert_allclose(new[name], params[name] - 0.1 * grads[name], atol=1e-6)
    np.testing.assert_allclose(loss, dense_loss, rtol=1e-5)


@pytest.mark.slow
def test_glove_adagrad_step_equals_the_c_code_loop():
    objective = GloVe(dim=3, x_max=10.0, learning_rate=0.05)
    params = objective.init(jax.random.key(0), 5)
    squares = objective.opt_init(params, 1)
    batch = {"rows": jnp.asarray([0, 1, 2]), "cols": jnp.asarray([3, 4, 0]), "values": jnp.asarray([2.0, 15.0, 0.5]),
             "valid": jnp.asarray([True, True, True])}
    new, new_squares, _, _ = objective.adagrad_update(params, squares, batch)
    p = {k: np.array(v, np.float64) for k, v in params.items()}
    g2 = {k: np.ones_like(v) for k, v in p.items()}
    for i, j, x in [(0, 3, 2.0), (1, 4, 15.0), (2, 0, 0.5)]:  # glove.c: each entry in turn (no row repeats within a side)
        diff = p["w"][i] @ p["w_ctx"][j] + p["b"][i] + p["b_ctx"][j] - np.log(x)
        fdiff = min(1.0, (x / 10.0) ** 0.75) * diff
        grads = {"w": fdiff * p["w_ctx"][j], "w_ctx": fdiff * p["w"][i], "b": fdiff, "b_ctx": fdiff}
        for name, row in (("w", i), ("w_ctx", j), ("b", i), ("b_ctx", j)):
            p[name][row] = p[name][row] - 0.05 * grads[name] / np.sqrt(g2[name][row])
            g2[name][row] = g2[name][row] + grads[name] ** 2
    for name in p:
        np.testing.assert_allclose(new[name], p[name], atol=1e-6)
        np.testing.assert_allclose(new_squares[name], g2[name], atol=1e-6)
    table, acc = adagrad_rows(jnp.zeros((2, 1)), jnp.ones((2, 1)), jnp.asarray([0, 0]), jnp.asarray([[1.0], [3.0]]), 0.5)
    np.testing.assert_allclose(table, [[-2.0], [0.0]]) and np.testing.assert_allclose(acc, [[11.0], [1.0]])


def test_a_non_finite_chunk_leaves_the_state_as_it_was():
    objective = GloVe(dim=2, chunk=2, batch_size=2)
    params = objective.init(jax.random.key(0), 3)
    state = TrainState(jnp.zeros((), jnp.int32), params, objective.opt_init(params, 1), jax.random.key(1))
    step = jax.jit(chunked_step(lambda p, s, b, k, i: objective.adagrad_update(p, s, b), 2))
    batch = {"rows": jnp.asarray([[0, 1], [2, 0]]), "cols": jnp.asarray([[1, 2], [0, 0]]), "values": jnp.asarray([[1.0, 2.0], [0.0, 1.0]]),
             "valid": jnp.ones((2, 2), bool), "count": np.float32(4)}  # X = 0: log 0 = -inf
    with jax.numpy_dtype_promotion("standard"):
        new, metrics = step(state, batch)
    assert not bool(metrics["finite"]) and int(new.step) == 0
    for a, b in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(state)):
        np.testing.assert_array_equal(jax.random.key_data(a) if a.dtype == state.key.dtype else a,
                                      jax.random.key_data(b) if b.dtype == state.key.dtype else b)


def test_epoch_batches_are_exact_padded_and_resumable():
    data = lambda rng, count_only=False: 10 if count_only else (rng.permutation(10),)  # noqa: E731
    batches = EpochBatches(data, names=("x",), epochs=2, batch_size=3, chunk=2, seed=4, words_per_epoch=100)
    assert batches.steps == 4
    seen = [next(batches) for _ in range(4)]
    with pytest.raises(StopIteration):
        next(batches)
    assert seen[1]["x"].shape == (2, 3) and seen[1]["valid"].tolist() == [[True, True, True], [True, False, False]]
    assert sorted(np.concatenate([b["x"][b["valid"]] for b in seen[:2]]).tolist()) == list(range(10))
    assert [float(b["count"]) for b in seen[:2]] == [60.0, 40.0]
    again = EpochBatches(data, names=("x",), epochs=2, batch_size=3, chunk=2, seed=4)
    next(again)
    position = again.state()
    again.restore(position)
    np.testing.assert_array_equal(next(again)["x"], seen[1]["x"])
    again.restore({"epoch": 1, "index": 1})
    np.testing.assert_array_equal(next(again)["x"], seen[3]["x"])
    with pytest.raises(ValueError, match="cannot restore"):
        again.restore({"epoch": 5, "index": 0})


def _topics_corpus(seed=0, n=600):
    """Two topics that never share a sentence: a word's neighbours are the words of its topic."""
    rng = np.random.default_rng(seed)
    topics = [[f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)]]
    return [list(rng.choice(topics[k % 2], 6)) for k in range(n)]


@pytest.mark.parametrize("objective", [SkipGram(dim=8, epochs=3, batch_size=64, chunk=4, sample=0.0, learning_rate=0.05),
                                       GloVe(dim=8, epochs=30, batch_size=16, chunk=2, x_max=10.0),
                                       NextWord(dim=8, order=2, hidden=16, epochs=4, batch_size=64, learning_rate=1e-2)], ids=lambda o: o.name)
def test_training_separates_two_topics(objective):
    corpus = Corpus.build(_topics_corpus(), min_count=1)
    vectors = train_vectors(corpus, objective, log_every=1000)
    for word in ("a0", "b3"):
        neighbours = [w for w, _ in vectors.most_similar(word, k=3)]
        assert all(w[0] == word[0] for w in neighbours), (objective.name, word, neighbours)


def test_resume_is_bit_identical(tmp_path):
    corpus = Corpus.build(_topics_corpus(n=200), min_count=1)
    objective = SkipGram(dim=8, epochs=2, batch_size=64, chunk=4, sample=0.0)
    whole = train_vectors(corpus, objective, log_every=1000)

    class Stop(Exception):
        pass

    def stop(vectors):
        raise Stop

    run = Run(tmp_path / "w2v", checkpoint_every=5, tensorboard=False)
    with pytest.raises(Stop):
        train_vectors(corpus, objective, run=run, evaluate=stop, eval_every=12, log_every=1000)
    assert run.checkpoints.latest_step() == 10
    resumed = train_vectors(corpus, objective, run=Run(tmp_path / "w2v", checkpoint_every=5, tensorboard=False), log_every=1000)
    np.testing.assert_array_equal(resumed.matrix, whole.matrix)


def test_bad_hyperparameters_are_named():
    with pytest.raises(ValueError, match="SkipGram.sample"):
        SkipGram(sample=2.0)
    with pytest.raises(ValueError, match="SkipGram.negative must be a positive int"):
        SkipGram(negative=0)
    with pytest.raises(ValueError, match="GloVe.x_max"):
        GloVe(x_max=0)
    with pytest.raises(ValueError, match="NextWord.order"):
        NextWord(order=0)
