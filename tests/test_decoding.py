"""The decoding library on models whose answers are known: tiny step functions, enumerated sequences."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import decoding

EOS = 2


def bigram(params, state, token):
    """A step function whose logits depend on the previous token only; the state counts steps."""
    return state + 1, params[token]


def random_table(seed, vocab=7):
    return jax.random.normal(jax.random.key(seed), (vocab, vocab)) * 2.0


START = jnp.array([0, 1, 3, 4, 5])
STATE = jnp.zeros(5, jnp.int32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_width_one_equals_greedy(seed):
    table = random_table(seed)
    g = decoding.greedy(bigram, table, STATE, START, max_length=8, eos_id=EOS)
    b = decoding.beam_search(bigram, table, STATE, START, beam_width=1, max_length=8, eos_id=EOS)
    assert np.array_equal(np.asarray(b.tokens[:, 0]), np.asarray(g.tokens))
    assert np.array_equal(np.asarray(b.lengths[:, 0]), np.asarray(g.lengths))
    np.testing.assert_allclose(np.asarray(b.log_probs[:, 0]), np.asarray(g.log_probs), rtol=1e-6)


def test_greedy_is_the_argmax_chain_with_eos_and_padding():
    table = random_table(3)
    out = decoding.greedy(bigram, table, STATE, START, max_length=6, eos_id=EOS)
    log_p = np.asarray(jax.nn.log_softmax(table), np.float64)
    for row, start in enumerate(np.asarray(START)):
        token, want, total = start, [], 0.0
        while len(want) < 6:
            token = int(np.argmax(log_p[token]))
            total += log_p[want[-1] if want else start, token]
            want.append(token)
            if token == EOS:
                break
        assert list(np.asarray(out.tokens[row, : len(want)])) == want and int(out.lengths[row]) == len(want)
        assert np.all(np.asarray(out.tokens[row, len(want):]) == 0)  # pad_id after the end
        assert float(out.log_probs[row]) == pytest.approx(total, rel=1e-5)


def test_top_k_one_and_temperature_zero_are_greedy():
    table = random_table(4)
    g = decoding.greedy(bigram, table, STATE, START, max_length=8, eos_id=EOS)
    for kwargs in (dict(top_k=1), dict(temperature=0.0), dict(temperature=1e-4)):
        s = decoding.sample(bigram, table, STATE, START, key=jax.random.key(9), max_length=8, eos_id=EOS, **kwargs)
        assert np.array_equal(np.asarray(s.tokens), np.asarray(g.tokens)), kwargs


def test_sampling_is_deterministic_for_a_key():
    table = random_table(5) * 0.1  # flat distributions: samples differ between keys
    a = decoding.sample(bigram, table, STATE, START, key=jax.random.key(1), max_length=20)
    b = decoding.sample(bigram, table, STATE, START, key=jax.random.key(1), max_length=20)
    c = decoding.sample(bigram, table, STATE, START, key=jax.random.key(2), max_length=20)
    assert np.array_equal(np.asarray(a.tokens), np.asarray(b.tokens))
    assert not np.array_equal(np.asarray(a.tokens), np.asarray(c.tokens))


def test_top_k_and_top_p_keep_only_the_head_of_the_distribution():
    logits = jnp.log(jnp.array([[0.05, 0.4, 0.1, 0.3, 0.15]]))
    keep_k = np.isfinite(np.asarray(decoding.filter_logits(logits, top_k=2)))[0]
    assert keep_k.tolist() == [False, True, False, True, False]
    # nucleus 0.75: 0.4 + 0.3 = 0.7 < 0.75, so 0.15 joins; 0.05 and 0.1 stay out
    keep_p = np.isfinite(np.asarray(decoding.filter_logits(logits, top_p=0.75)))[0]
    assert keep_p.tolist() == [False, True, False, True, True]
    assert np.isfinite(np.asarray(decoding.filter_logits(logits, top_p=0.01)))[0].tolist() == [False, True, False, False, False]
    # sampling respects the filters: 200 draws never leave the head
    table = jnp.tile(logits, (5, 1))
    draws = decoding.sample(bigram, table, jnp.zeros(200, jnp.int32), jnp.zeros(200, jnp.int32), key=jax.random.key(0),
                            max_length=3, top_k=2)
    assert set(np.unique(np.asarray(draws.tokens))) <= {1, 3}


def prefix_model(vocab=24, allowed=(EOS, 5, 7), seed=9):
    """Logits that depend on the whole prefix (the state is a code of it); only ``allowed`` tokens
    are possible, so every sequence can be enumerated. (Seed 9: greedy misses the best sequence
    of three of the four start tokens below, so the test can tell a search from a guess.)"""
    base = jax.random.key(seed)
    bias = jnp.full((vocab,), -jnp.inf).at[jnp.array(allowed)].set(0.0).at[EOS].set(-1.0)

    def step(params, code, token):
        code = code * vocab + token + 1
        logits = jax.vmap(lambda c: 2.0 * jax.random.normal(jax.random.fold_in(base, c), (vocab,)))(code)
        return code, logits + bias

    return step, allowed


def enumerate_best(step, allowed, start, max_length, alpha):
    """The highest-scoring sequence of every possible one: tokens then EOS, or max_length tokens without it."""
    best = None
    words = [t for t in allowed if t != EOS]
    for length in range(1, max_length + 1):
        for body in itertools.product(words, repeat=length - 1):
            for last in [EOS] + (words if length == max_length else []):
                code, token, logp = jnp.zeros(1, jnp.int32), jnp.array([start]), 0.0
                for t in list(body) + [last]:
                    code, logits = step(None, code, token)
                    logp += float(jax.nn.log_softmax(logits)[0, t])
                    token = jnp.array([t])
                score = logp / ((5 + length) / 6) ** alpha
                if best is None or score > best[0]:
                    best = (score, list(body) + [last])
    return best


def test_beam_search_as_wide_as_every_prefix_finds_the_best_sequence():
    # 3 possible tokens and at most 4 steps: at most 24 candidates per step, so a beam of 24 keeps them all
    step, allowed = prefix_model()
    max_length, alpha, starts = 4, 0.6, [1, 3, 5, 7]
    out = decoding.beam_search(step, None, jnp.zeros(4, jnp.int32), jnp.array(starts), beam_width=24, max_length=max_length,
                               eos_id=EOS, length_penalty=alpha, early_stopping="exact")
    greedy = decoding.beam_search(step, None, jnp.zeros(4, jnp.int32), jnp.array(starts), beam_width=1, max_length=max_length,
                                  eos_id=EOS, length_penalty=alpha)
    misses = 0
    for row, start in enumerate(starts):
        best_score, best = enumerate_best(step, allowed, start, max_length, alpha)
        n = int(out.lengths[row, 0])
        assert list(np.asarray(out.tokens[row, 0, :n])) == best
        assert float(out.scores[row, 0]) == pytest.approx(best_score, rel=1e-5)
        assert np.all(np.diff(np.asarray(out.scores[row])) <= 1e-6)  # best first
        misses += float(greedy.scores[row, 0]) < best_score - 1e-4
    assert misses >= 1  # the case is not one greedy decoding already solves


def test_early_stopping_rules():
    step, _ = prefix_model()
    run = lambda rule, alpha: decoding.beam_search(step, None, jnp.zeros(4, jnp.int32), jnp.array([1, 3, 5, 7]), beam_width=6,  # noqa: E731
                                                   max_length=4, eos_id=EOS, length_penalty=alpha, early_stopping=rule)
    exact, heuristic = run("exact", 0.0), run("heuristic", 0.0)
    assert np.array_equal(np.asarray(exact.tokens), np.asarray(heuristic.tokens))  # without a length penalty they agree
    finished = run("finished", 0.6)
    ends = np.asarray(finished.tokens)[np.arange(4)[:, None], np.arange(6)[None], np.asarray(finished.lengths) - 1]
    assert np.all((ends == EOS) | (np.asarray(finished.lengths) == 4))
    with pytest.raises(ValueError, match="early_stopping must be one of"):
        run("never", 0.0)


def test_beam_search_beats_greedy_where_greedy_is_wrong():
    # from the start: A (token 1) 0.6, B (token 3) 0.4; after A: A .35, B .35, EOS .3; after B: EOS for sure
    p = np.full((4, 4), 1e-9)
    p[0, [1, 3]] = [0.6, 0.4]
    p[1, [1, 3, EOS]] = [0.35, 0.35, 0.3]
    p[3, EOS] = 1.0
    p[EOS, EOS] = 1.0
    table = jnp.log(jnp.asarray(p / p.sum(1, keepdims=True), jnp.float32))
    start, state = jnp.array([0]), jnp.zeros(1, jnp.int32)
    g = decoding.greedy(bigram, table, state, start, max_length=5, eos_id=EOS)
    b = decoding.beam_search(bigram, table, state, start, beam_width=2, max_length=5, eos_id=EOS)
    assert list(np.asarray(b.tokens[0, 0, :2])) == [3, EOS] and float(b.log_probs[0, 0]) == pytest.approx(np.log(0.4), abs=1e-5)
    assert int(g.tokens[0, 0]) == 1 and float(g.log_probs[0]) < np.log(0.4)


def test_records_follow_each_hypothesis():
    table = random_table(6)
    record = lambda state: jnp.stack([state, state * 0 + 1], -1).astype(jnp.float32)  # noqa: E731
    g = decoding.greedy(bigram, table, STATE, START, max_length=5, eos_id=EOS, record=record)
    assert g.records.shape == (5, 5, 2)
    for row in range(5):
        n = int(g.lengths[row])
        assert np.array_equal(np.asarray(g.records[row, :n, 0]), np.arange(1, n + 1))  # the state after each step
        assert np.all(np.asarray(g.records[row, n:]) == 0)
    b = decoding.beam_search(bigram, table, STATE, START, beam_width=3, max_length=5, eos_id=EOS, record=record)
    assert b.records.shape == (5, 3, 5, 2)


def test_decoding_errors():
    table = random_table(0)
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        decoding.greedy(bigram, table, STATE, START, max_length=0)
    with pytest.raises(ValueError, match="beam_width must be a positive int"):
        decoding.beam_search(bigram, table, STATE, START, beam_width=0, max_length=3, eos_id=EOS)
    with pytest.raises(ValueError, match=r"beam_width must be at most the vocabulary size \(7\), got 8"):
        decoding.beam_search(bigram, table, STATE, START, beam_width=8, max_length=3, eos_id=EOS)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        decoding.sample(bigram, table, STATE, START, key=jax.random.key(0), max_length=3, temperature=-1.0)
    with pytest.raises(ValueError, match=r"top_p must lie in \(0, 1\]"):
        decoding.sample(bigram, table, STATE, START, key=jax.random.key(0), max_length=3, top_p=0.0)
    with pytest.raises(ValueError, match=r"start_tokens must be an int array of shape \[batch\]"):
        decoding.greedy(bigram, table, STATE, START.astype(jnp.float32), max_length=3)
    with pytest.raises(ValueError, match="length_penalty"):
        decoding.beam_search(bigram, table, STATE, START, beam_width=2, max_length=3, eos_id=EOS, length_penalty=-1.0)
