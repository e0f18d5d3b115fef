"""The decoding library on models whose answers are known: tiny step functions, enumerated sequences."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import decoding
from seqjax.decoding import EARLY_STOPPING

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
    b = decoding.beam(bigram, table, STATE, START, beam_width=1, max_length=8, eos_id=EOS)
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


@pytest.mark.slow
def test_beam_search_as_wide_as_every_prefix_finds_the_best_sequence():
    # 3 possible tokens and at most 4 steps: at most 24 candidates per step, so a beam of 24 keeps them all
    step, allowed = prefix_model()
    max_length, alpha, starts = 4, 0.6, [1, 3, 5, 7]
    out = decoding.beam(step, None, jnp.zeros(4, jnp.int32), jnp.array(starts), beam_width=24, max_length=max_length,
                               eos_id=EOS, length_penalty=alpha, early_stopping="exact")
    greedy = decoding.beam(step, None, jnp.zeros(4, jnp.int32), jnp.array(starts), beam_width=1, max_length=max_length,
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


# --- beam search against oracles: every sequence enumerated, and the search written as a plain loop ---


def penalty(length, alpha, norm="gnmt"):
    return (float(length) if norm == "power" else (5.0 + length) / 6.0) ** alpha


def every_hypothesis(logp, vocab, max_length, alpha, norm="gnmt"):
    """Every possible output, best first: (score, log_prob, tokens) for tokens ended by EOS, or
    ``max_length`` tokens without it. ``logp(prefix)`` is the next token's log-probabilities."""
    out = []

    def walk(prefix, total):
        for token, lp in enumerate(logp(prefix)):
            seq = prefix + (token,)
            if token == EOS or len(seq) == max_length:
                out.append((float((total + lp) / penalty(len(seq), alpha, norm)), float(total + lp), seq))
            else:
                walk(seq, total + lp)

    walk((), 0.0)
    return sorted(out, key=lambda h: -h[0])


def plain_beam(logp, vocab, k, max_length, alpha, rule, norm="gnmt"):
    """Beam search as ``beam``'s docstring words it, one sentence, Python lists and float64.
    ``rule=None`` never stops early: what "exact" promises to equal."""
    alive, finished = [((), 0.0)], []
    for i in range(max_length):
        cands = sorted(((lp + step_lp, prefix + (t,)) for prefix, lp in alive for t, step_lp in enumerate(logp(prefix))),
                       key=lambda c: -c[0])[: 2 * k]
        finished += [(lp / penalty(i + 1, alpha, norm), lp, seq) for rank, (lp, seq) in enumerate(cands) if seq[-1] == EOS and rank < k]
        finished = sorted(finished, key=lambda h: -h[0])[:k]
        alive = [(seq, lp) for lp, seq in cands if seq[-1] != EOS][:k]
        full = len(finished) == k
        if not alive or (rule == "finished" and full) or (
                rule == "heuristic" and full and finished[-1][0] >= alive[0][1] / penalty(i + 1, alpha, norm)):
            return finished
    return sorted(finished + [(lp / penalty(max_length, alpha, norm), lp, seq) for seq, lp in alive], key=lambda h: -h[0])[:k]


def positional_bigram(params, state, token):
    """Logits from a table per sentence, by position and previous token: ``tables[row, position, token]``."""
    tables, position = state
    return (tables, position + 1), tables[jnp.arange(token.shape[0]), position, token]


def oracle_case(vocab, max_length, seed, batch=3):
    """Random tables for ``batch`` sentences and each sentence's ``logp(prefix)`` in float64."""
    key_t, key_s = jax.random.split(jax.random.key(seed))
    tables = jax.random.normal(key_t, (batch, max_length, vocab, vocab)) * 1.5
    starts = np.asarray(jax.random.randint(key_s, (batch,), 0, vocab))
    logps = np.asarray(jax.nn.log_softmax(tables.astype(jnp.float64) if jax.config.jax_enable_x64 else tables), np.float64)
    logps = logps - np.log(np.exp(logps).sum(-1, keepdims=True))  # renormalised in float64

    def logp_of(row):
        return lambda prefix: logps[row, len(prefix), prefix[-1] if prefix else starts[row]]

    state = (tables, jnp.zeros(batch, jnp.int32))
    return state, jnp.asarray(starts, jnp.int32), [logp_of(row) for row in range(batch)]


def hypotheses(out, row):
    """The search's answer for one sentence, as (score, log_prob, tokens), empty slots left out."""
    tokens, lengths, scores, log_probs = (np.asarray(x[row]) for x in (out.tokens, out.lengths, out.scores, out.log_probs))
    got = []
    for j in range(tokens.shape[0]):
        n = int(lengths[j])
        if scores[j] == -np.inf:
            assert n == 0 and np.all(tokens[j] == 0) and log_probs[j] == -np.inf
            continue
        got.append((float(scores[j]), float(log_probs[j]), tuple(tokens[j, :n].tolist())))
        assert np.all(tokens[j, n:] == 0)  # pad_id after the end
    return got


def assert_same_hypotheses(got, want, what):
    assert [h[2] for h in got] == [h[2] for h in want], what
    np.testing.assert_allclose([h[:2] for h in got], [h[:2] for h in want], rtol=2e-5, atol=1e-6, err_msg=what)


@pytest.mark.parametrize("vocab,max_length,seed", [(3, 6, 0), (4, 5, 1), (5, 4, 2), (5, 6, 3)])
@pytest.mark.slow
def test_beam_search_against_every_sequence_and_a_plain_loop(vocab, max_length, seed):
    """For each rule, α in {0, 0.6 (GNMT's penalty), 1 (Hugging Face's |Y| ** α)} and every beam_width from 1 to the vocabulary (and one wide
    enough to keep every prefix), three sentences at once: each is what the plain loop gives, and
    no hypothesis is scored other than its enumerated score or is unfinished before max_length."""
    state, starts, logps = oracle_case(vocab, max_length, seed)
    wide = vocab * (vocab - 1) ** (max_length - 1)  # every prefix fits: an exhaustive search
    widths = list(range(1, vocab + 1)) + ([wide] if wide <= 1024 else [])
    penalties = ((0.0, "gnmt"), (0.6, "gnmt"), (1.0, "power"))
    every_of = {(row, alpha): every_hypothesis(logp, vocab, max_length, alpha, norm)
                for row, logp in enumerate(logps) for alpha, norm in penalties}
    for rule in EARLY_STOPPING:
        for k in widths:
            for alpha, norm in penalties:
                out = decoding.beam(positional_bigram, None, state, starts, beam_width=k, max_length=max_length,
                                    eos_id=EOS, length_penalty=alpha, early_stopping=rule, length_norm=norm)
                for row, logp in enumerate(logps):
                    what = f"rule={rule} k={k} alpha={alpha} sentence={row}"
                    every = every_of[row, alpha]
                    score_of = {seq: (score, lp) for score, lp, seq in every}
                    got = hypotheses(out, row)
                    for score, lp, seq in got:  # a real hypothesis, scored right, finished unless it timed out
                        assert seq[-1] == EOS or len(seq) == max_length, what
                        np.testing.assert_allclose((score, lp), score_of[seq], rtol=2e-5, atol=1e-6, err_msg=what)
                    assert got[0][0] <= every[0][0] + 1e-5, what  # nothing beats the best of all
                    plain = plain_beam(logp, vocab, k, max_length, alpha, None if rule == "exact" else rule, norm)
                    assert_same_hypotheses(got, plain, what)
                    if k == wide:  # exhaustive: exactly the k best sequences of all
                        assert_same_hypotheses(got, every[:k] if rule == "exact" else got, what)


def test_early_stopping_finished_never_returns_a_live_prefix():
    # the outside check's case: after [1, 1] (p .3) and EOS (p .3) finish two hypotheses... the live
    # prefix [1, 1] must not be ranked as if it had ended
    table = jnp.log(jnp.array([[.1, .5, .3, .1], [.1, .6, .2, .1], [.25] * 4, [.1, .5, .3, .1]]))
    for rule in EARLY_STOPPING:
        out = decoding.beam(bigram, table, jnp.zeros(1, jnp.int32), jnp.array([0]), beam_width=2, max_length=6,
                                   eos_id=2, early_stopping=rule)
        got = hypotheses(out, 0)
        assert [h[2] for h in got] == [(2,), (1, 2)], rule
        np.testing.assert_allclose([h[0] for h in got], np.log([0.3, 0.1]), rtol=1e-5)


@pytest.mark.slow
def test_a_sentence_does_not_depend_on_the_others_in_its_batch():
    state, starts, _ = oracle_case(4, 6, seed=7, batch=4)
    for rule in EARLY_STOPPING:
        together = decoding.beam(positional_bigram, None, state, starts, beam_width=2, max_length=6, eos_id=EOS,
                                        length_penalty=1.0, early_stopping=rule)
        for row in range(4):
            alone = decoding.beam(positional_bigram, None, jax.tree_util.tree_map(lambda x: x[row:row + 1], state),
                                         starts[row:row + 1], beam_width=2, max_length=6, eos_id=EOS, length_penalty=1.0,
                                         early_stopping=rule)
            assert_same_hypotheses(hypotheses(together, row), hypotheses(alone, 0), f"{rule} sentence {row}")


def test_beam_width_beyond_the_vocabulary_leaves_empty_slots_last():
    table = random_table(1, vocab=4)
    out = decoding.beam(bigram, table, STATE, START % 4, beam_width=6, max_length=1, eos_id=EOS)
    assert np.all(np.isfinite(np.asarray(out.scores[:, :4]))) and np.all(np.asarray(out.scores[:, 4:]) == -np.inf)
    assert np.all(np.asarray(out.lengths[:, 4:]) == 0) and np.all(np.asarray(out.tokens[:, 4:]) == 0)
    assert sorted(np.asarray(out.tokens[0, :4, 0]).tolist()) == [0, 1, 2, 3]  # every one-token output


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
    b = decoding.beam(bigram, table, state, start, beam_width=2, max_length=5, eos_id=EOS)
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
    b = decoding.beam(bigram, table, STATE, START, beam_width=3, max_length=5, eos_id=EOS, record=record)
    assert b.records.shape == (5, 3, 5, 2)


def test_decoding_errors():
    table = random_table(0)
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        decoding.greedy(bigram, table, STATE, START, max_length=0)
    with pytest.raises(ValueError, match="beam_width must be a positive int"):
        decoding.beam(bigram, table, STATE, START, beam_width=0, max_length=3, eos_id=EOS)
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        decoding.sample(bigram, table, STATE, START, key=jax.random.key(0), max_length=3, temperature=-1.0)
    with pytest.raises(ValueError, match=r"top_p must lie in \(0, 1\]"):
        decoding.sample(bigram, table, STATE, START, key=jax.random.key(0), max_length=3, top_p=0.0)
    with pytest.raises(ValueError, match=r"start_tokens must be an int array of shape \[batch\]"):
        decoding.greedy(bigram, table, STATE, START.astype(jnp.float32), max_length=3)
    with pytest.raises(ValueError, match="length_penalty"):
        decoding.beam(bigram, table, STATE, START, beam_width=2, max_length=3, eos_id=EOS, length_penalty=-1.0)
    with pytest.raises(ValueError, match=r"length_norm must be one of \('gnmt', 'power'\), got 'hf'"):
        decoding.beam(bigram, table, STATE, START, beam_width=2, max_length=3, eos_id=EOS, length_norm="hf")
