"""seqjax.embeddings: file formats round trip and fail clearly; neighbours and analogies on vectors built by hand;
the evaluations give gensim's numbers on the same vectors (gensim is the test's oracle)."""

from collections import defaultdict
import pathlib

import jax
import numpy as np
import pytest

from seqjax.data import DataFormatError
from seqjax.data import datasets
from seqjax.embeddings import Vectors, evaluate_analogies, evaluate_similarity, read_vectors, write_vectors

gensim = pytest.importorskip("gensim", reason="the evaluation oracle is gensim (the 'test' extra)")
SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def random_vectors(n=40, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return Vectors([f"w{i}" for i in range(n)] + ["Ünïcode"], rng.normal(size=(n + 1, d)).astype(np.float32))


# --- formats --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,format", [("v.txt", "glove"), ("v.txt.gz", "glove"), ("v.w2v.txt", "word2vec"),
                                         ("v.bin", "word2vec_bin"), ("v.bin.gz", "word2vec_bin")])
def test_round_trips_in_every_format(tmp_path, name, format):
    vectors = random_vectors()
    path = write_vectors(tmp_path / name, vectors.words, vectors.matrix, format=format)
    words, matrix = read_vectors(path)  # the format is detected from the file
    assert words == vectors.words
    if format == "word2vec_bin":
        np.testing.assert_array_equal(matrix, vectors.matrix)
    else:
        np.testing.assert_allclose(matrix, vectors.matrix, rtol=1e-7, atol=1e-7)
    assert read_vectors(path, limit=3)[0] == vectors.words[:3]
    # gensim reads what seqjax writes, and seqjax what gensim writes
    if format != "glove":
        kv = gensim.models.KeyedVectors.load_word2vec_format(str(path), binary=format == "word2vec_bin")
        np.testing.assert_allclose(kv.vectors, vectors.matrix, rtol=1e-6, atol=1e-7)
        kv.save_word2vec_format(str(tmp_path / ("g" + name)), binary=format == "word2vec_bin")
        assert Vectors.load(tmp_path / ("g" + name)).words == vectors.words


def write(tmp_path, text: str, name="bad.txt") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text,message", [
    ("a 1 2\nb 1 2 3\n", r"line 2: 'b' has 3 values, but earlier rows have 2"),
    ("a 1 2\nb 1 x\n", r"line 2: the vector of 'b' has values that are not numbers"),
    ("a 1 2\nb 1 nan\n", r"line 2: the vector of 'b' holds NaN or infinite values"),
    ("a 1 2\nb 1 2\na 3 4\n", r"line 3: 'a' is given twice \(first at line 1\)"),
    ("3 2\na 1 2\nb 1 2\n", r"the header says 3 words, the file holds 2 \(truncated\?\)"),
    ("2 3\na 1 2\nb 1 2\n", r"line 2: 'a' has 2 values, but earlier rows have 3"),
    ("a 1 2\n\nb 1 2\n", r"line 2: empty line"),
    ("", r"no vectors found"),
])
def test_malformed_text_files_name_file_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DataFormatError, match=message) as error:
        read_vectors(path)
    assert str(path) in str(error.value)


def test_malformed_binary_files(tmp_path):
    vectors = random_vectors(n=3)
    path = vectors.save(tmp_path / "v.bin")  # word2vec binary, by the name
    data = path.read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-10])
    with pytest.raises(DataFormatError, match="ends inside the vector of record 4"):
        read_vectors(tmp_path / "cut.bin")
    (tmp_path / "more.bin").write_bytes(data.replace(b"4 6\n", b"3 6\n", 1))
    with pytest.raises(DataFormatError, match="more than the 3 records"):
        read_vectors(tmp_path / "more.bin")
    (tmp_path / "gz.txt.gz").write_bytes(b"not gzip")
    with pytest.raises(DataFormatError, match="not a readable"):
        read_vectors(tmp_path / "gz.txt.gz")
    with pytest.raises(ValueError, match="hold no whitespace"):
        write_vectors(tmp_path / "x.txt", ["two words"], np.zeros((1, 2)))


# --- lookup, neighbours, analogies on vectors with known answers ---------------------------------------

#                    royal male female young frog  noise
HAND = {"king":     [1.0, 1.0, 0.0, 0.0, 0.0, 0.1],
        "queen":    [1.0, 0.0, 1.0, 0.0, 0.0, 0.1],
        "man":      [0.0, 1.0, 0.0, 0.0, 0.0, 0.2],
        "woman":    [0.0, 0.0, 1.0, 0.0, 0.0, 0.2],
        "prince":   [1.0, 1.0, 0.0, 1.0, 0.0, 0.0],
        "princess": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0],
        "boy":      [0.0, 1.0, 0.0, 1.0, 0.0, 0.1],
        "frog":     [0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        "frogs":    [0.0, 0.0, 0.0, 0.1, 1.0, 0.1],
        "toad":     [0.0, 0.0, 0.0, 0.3, 1.0, 0.3]}


def hand_vectors():
    return Vectors(list(HAND), np.array(list(HAND.values()), np.float32))


def test_neighbours_and_analogies_with_known_answers():
    v = hand_vectors()
    neighbours = v.most_similar("frog", k=2)
    assert [w for w, _ in neighbours] == ["frogs", "toad"]  # the query itself is excluded
    assert neighbours[0][1] == pytest.approx(v.similarity("frog", "frogs"))
    assert [[w for w, _ in n] for n in v.most_similar(["king", "frogs"], k=1)] == [["prince"], ["frog"]]  # batched
    for method in ("3cosadd", "3cosmul"):
        assert v.analogy("man", "king", "woman", method=method)[0][0] == "queen"
        assert v.analogy("man", "boy", "woman", k=2, method=method)[0][0] == "princess"
        assert v.analogies([("king", "queen", "prince"), ("woman", "man", "queen")], method=method) [0][0][0] == "princess"
    assert v.nearest_to_vector(v["king"] - v["man"] + v["woman"], k=1)[0][0] == "queen"
    with pytest.raises(KeyError, match="'dragon' is not in the vocabulary of these 10 vectors"):
        v.most_similar("dragon")


def test_analogy_scores_equal_the_formulas():
    v = hand_vectors()
    cos = lambda x, y: float(np.dot(x, y) / np.linalg.norm(x) / np.linalg.norm(y))  # noqa: E731
    scores = {m: v.analogy_scores([("man", "king", "woman")], m)[0] for m in ("3cosadd", "3cosmul")}
    for i, word in enumerate(v.words):
        a, b, c = (cos(v[word], v[w]) for w in ("man", "king", "woman"))
        assert scores["3cosadd"][i] == pytest.approx(b - a + c, abs=1e-6)
        assert scores["3cosmul"][i] == pytest.approx(((1 + b) / 2) * ((1 + c) / 2) / ((1 + a) / 2 + 1e-6), rel=1e-5)


def test_embedding_matrix_counts_the_words_found():
    v = hand_vectors()
    matrix, found = v.embedding_matrix(["<PAD>", "king", "Frog", "dragon"], key=jax.random.key(0), lower=True, zero_ids=[0])
    assert found == 2
    np.testing.assert_array_equal(matrix[1], v["king"])
    np.testing.assert_array_equal(matrix[2], v["frog"])
    assert np.all(matrix[0] == 0) and np.all(matrix[3] != 0) and np.all(np.abs(matrix[3]) <= v.matrix.std())
    assert v.embedding_matrix(["dragon"])[0].sum() == 0.0  # without a key, missing words are zero


# --- evaluation: gensim's numbers ---------------------------------------------------------------------


def analogy_fixture(tmp_path):
    """Vectors whose analogies are partly right, with capitalised variants, frequent words first,
    and a question file with out-of-vocabulary words."""
    rng = np.random.default_rng(1)
    countries = ["france", "germany", "italy", "spain", "japan", "china"]
    capitals = ["paris", "berlin", "rome", "madrid", "tokyo", "beijing"]
    base = {w: rng.normal(size=8) for w in countries}
    offset = rng.normal(size=8)
    words, rows = [], []
    for country, capital in zip(countries, capitals):
        words += [country, capital]
        rows += [base[country], base[country] + offset + 0.8 * rng.normal(size=8)]
    for w in ["Paris", "France", "the", "of", "Berlin"] + [f"x{i}" for i in range(20)]:
        words.append(w)
        rows.append(rng.normal(size=8))
    vectors = Vectors(words, np.array(rows, np.float32))
    lines = [": capital-world"]
    for i in range(6):
        for j in range(6):
            if i != j:
                lines.append(f"{countries[i].capitalize()} {capitals[i].capitalize()} {countries[j]} {capitals[j]}")
    lines += ["france paris narnia cair", ": other", "the of Paris France", "x1 x2 x3 x4", "x1 x5 x9 x19"]
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(lines) + "\n")
    return vectors, path


def keyed(vectors: Vectors):
    kv = gensim.models.KeyedVectors(vectors.dim)
    kv.add_vectors(vectors.words, vectors.matrix)
    return kv


@pytest.mark.parametrize("case_insensitive", [True, False])
@pytest.mark.parametrize("restrict_vocab", [300000, 30])
def test_analogy_evaluation_equals_gensim(tmp_path, case_insensitive, restrict_vocab):
    vectors, path = analogy_fixture(tmp_path)
    score, sections = keyed(vectors).evaluate_word_analogies(str(path), restrict_vocab=restrict_vocab, case_insensitive=case_insensitive)
    ours = evaluate_analogies(vectors, datasets.analogies(path, lower=False), restrict_vocab=restrict_vocab, case_insensitive=case_insensitive)
    assert ours["accuracy"] == pytest.approx(score)
    assert [(s["section"], s["correct"], s["incorrect"]) for s in ours["sections"]] == [
        (s["section"], len(s["correct"]), len(s["incorrect"])) for s in sections[:-1]]
    assert 0 < ours["correct"] < ours["covered"] < ours["questions"]  # a test that could fail either way


def similarity_fixture(tmp_path):
    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(30)] + ["W3", "Cat"]
    vectors = Vectors(words, rng.normal(size=(len(words), 5)).astype(np.float32))
    lines = ["# comment", "# another"]
    for i in range(25):
        lines.append(f"w{i}\tw{(i * 7 + 3) % 30}\t{round(float(rng.uniform(0, 10)), 0)}")  # rounded scores: ties
    lines += ["cat\tw1\t5.0", "w1\tmissing\t3.0", "W3\tw4\t7.0"]
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n")
    return vectors, path


@pytest.mark.parametrize("case_insensitive", [True, False])
@pytest.mark.parametrize("dummy4unknown", [False, True])
def test_similarity_evaluation_equals_gensim(tmp_path, case_insensitive, dummy4unknown):
    vectors, path = similarity_fixture(tmp_path)
    pearson, spearman, oov = keyed(vectors).evaluate_word_pairs(str(path), case_insensitive=case_insensitive, dummy4unknown=dummy4unknown)
    pairs = [tuple(line.split("\t")[:2]) + (float(line.split("\t")[2]),) for line in path.read_text().splitlines() if not line.startswith("#")]
    ours = evaluate_similarity(vectors, pairs, case_insensitive=case_insensitive, dummy4unknown=dummy4unknown)
    assert ours["spearman"] == pytest.approx(spearman.statistic, abs=1e-9)
    assert ours["pearson"] == pytest.approx(pearson.statistic, abs=1e-6)
    assert ours["oov_ratio"] == pytest.approx(oov)


@pytest.mark.skipif(not (SHARED / "glove").is_dir(), reason="../shared/data is absent: the real GloVe, analogy and WordSim files")
def test_real_glove_sample_against_gensim():
    vectors = Vectors.load(SHARED / "glove" / "glove.6B.50d.subset.txt")
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(SHARED / "glove" / "glove.6B.50d.subset.txt"), binary=False, no_header=True)
    score, _ = kv.evaluate_word_analogies(str(SHARED / "analogy" / "questions-words.txt"))
    ours = evaluate_analogies(vectors, datasets.analogies(SHARED, lower=False))
    assert ours["accuracy"] == pytest.approx(score) and ours["covered"] > 0
    pearson, spearman, oov = kv.evaluate_word_pairs(str(SHARED / "wordsim" / "wordsim353.tsv"))
    sim = evaluate_similarity(vectors, datasets.word_similarity("wordsim353", SHARED, lower=False))
    assert (sim["spearman"], sim["oov_ratio"]) == (pytest.approx(spearman.statistic, abs=1e-9), pytest.approx(oov))
    for word in ("government", "day", vectors.words[200]):
        assert [w for w, _ in vectors.most_similar(word, k=3)] == [w for w, _ in kv.most_similar(word, topn=3)]


# --- debiasing -------------------------------------------------------------------------------------


def biased_vectors(seed=3, d=12):
    """Random vectors in which 'she'-like words share +g, 'he'-like words -g, and occupations a bias along g."""
    from seqjax.embeddings import debias

    rng = np.random.default_rng(seed)
    g = rng.normal(size=d)
    g /= np.linalg.norm(g)
    words, rows = [], []
    for a, b in debias.EQUALIZE:
        shared = rng.normal(size=d)
        words += [a, b]
        rows += [shared + 1.5 * g + 0.2 * rng.normal(size=d), shared - 1.5 * g + 0.2 * rng.normal(size=d)]
    for a, b in debias.DEFINITIONAL:
        for w, sign in ((a, 1), (b, -1)):
            if w not in words:
                words.append(w)
                rows.append(rng.normal(size=d) + sign * 1.5 * g)
    for i, w in enumerate(debias.OCCUPATIONS):
        words.append(w)
        rows.append(rng.normal(size=d) + (3.0 if i < 11 else -3.0) * g)  # homemaker ... secretary lean "she"
    return Vectors(words, np.array(rows, np.float32)), g


def test_hard_debiasing_invariants():
    from seqjax.embeddings import debias

    vectors, g_true = biased_vectors()
    g = debias.gender_direction(vectors)
    assert abs(g @ g_true) > 0.9  # found the planted direction ...
    assert (vectors.unit[vectors.index["she"]] - vectors.unit[vectors.index["he"]]) @ g > 0  # ... with she on its positive side
    before = debias.direct_bias(vectors, debias.OCCUPATIONS, g)
    she, he = debias.extreme_words(vectors, debias.OCCUPATIONS, g, k=5)
    assert {w for w, _ in she} <= set(debias.OCCUPATIONS[:11]) and {w for w, _ in he} & set(debias.OCCUPATIONS[:11]) == set()
    out = debias.hard_debias(vectors)
    neutral = [w for w in out.words if w not in debias.GENDER_SPECIFIC]
    np.testing.assert_allclose(out.matrix[[out.index[w] for w in neutral]] @ g, 0.0, atol=1e-6)  # neutralised: no projection on g
    np.testing.assert_allclose(np.linalg.norm(out.matrix, axis=1), 1.0, atol=1e-6)
    assert debias.direct_bias(out, debias.OCCUPATIONS, g) < 1e-6 < before
    for a, b in debias.EQUALIZE:  # each equalised pair is equidistant from every neutral word
        da = out.matrix[[out.index[w] for w in neutral]] @ out[a]
        db = out.matrix[[out.index[w] for w in neutral]] @ out[b]
        np.testing.assert_allclose(da, db, atol=1e-6)
    specific_unequalised = [w for w in debias.GENDER_SPECIFIC if w in vectors and all(w not in p for p in debias.EQUALIZE)]
    for w in specific_unequalised:  # gender-specific words keep their (unit) vectors
        np.testing.assert_allclose(out[w], vectors.unit[vectors.index[w]], atol=1e-6)
    with pytest.raises(ValueError, match="only 0 of the 1 definitional pairs"):
        debias.gender_direction(vectors, [("dragon", "knight")])


# --- retrofitting ------------------------------------------------------------------------------------


def graph_fixture(tmp_path):
    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(12)]
    vectors = Vectors(words, rng.normal(size=(12, 4)).astype(np.float32))
    path = tmp_path / "lexicon.txt"
    path.write_text("# a lexicon\nw0 w1 w2 w3\nw1 w4\nw5 w6 2.5\nw7 w8 w9 dragon\nw2 w0\nunicorn w3\n")
    return vectors, path


def test_retrofit_graph_files(tmp_path):
    from seqjax.embeddings import retrofit

    vectors, path = graph_fixture(tmp_path)
    edges, unknown = retrofit.read_edges(path, vectors)
    assert unknown == 2  # w7-dragon and unicorn-w3
    assert edges[(5, 6)] == edges[(6, 5)] == 2.5  # a weight given in the file
    assert edges[(0, 1)] == pytest.approx(1 / 3) and edges[(1, 0)] == pytest.approx(1 / 2)  # β_ij = 1/degree(i)
    directed, _ = retrofit.read_edges(path, vectors, symmetric=False)
    assert (4, 1) not in directed and (1, 4) in directed
    (tmp_path / "bad.txt").write_text("w0 w1\nlonely\n")
    with pytest.raises(DataFormatError, match="bad.txt, line 2: expected a word and at least one neighbour"):
        retrofit.read_edges(tmp_path / "bad.txt", vectors)


@pytest.mark.parametrize("symmetric", [True, False])
def test_retrofit_objective_falls_every_iteration_to_the_fixed_point(tmp_path, symmetric):
    from seqjax.embeddings import retrofit

    vectors, path = graph_fixture(tmp_path)
    edges, _ = retrofit.read_edges(path, vectors, symmetric=symmetric)
    values = [retrofit.objective(vectors, vectors, edges)]
    out = retrofit.retrofit(vectors, edges, iterations=300, alpha=0.7,
                            callback=lambda it, q: values.append(retrofit.objective(vectors, q, edges, alpha=0.7)))
    assert all(b <= a + 1e-12 for a, b in zip(values, values[1:])) and values[-1] < 0.5 * values[0]
    # the minimum of Ψ solves (α + Σ_j w_ij) q_i − Σ_j w_ij q_j = α q̂_i with w_ij = β_ij + β_ji
    n = len(vectors)
    a = np.zeros((n, n))
    for (i, j), beta in edges.items():
        for x, y in ((i, j), (j, i)):
            a[x, x] += beta
            a[x, y] -= beta
    moved = sorted({i for e in edges for i in e})
    a[moved, moved] += 0.7
    rhs = np.zeros((n, vectors.dim))
    rhs[moved] = 0.7 * vectors.matrix[moved]
    fixed = [i for i in range(n) if i not in moved]
    a[fixed, fixed] = 1.0
    rhs[fixed] = vectors.matrix[fixed]  # words without an edge keep their vectors
    np.testing.assert_allclose(out.matrix, np.linalg.solve(a, rhs), atol=1e-5)


def test_retrofit_paper_update_equals_faruquis_loop(tmp_path):
    from seqjax.embeddings import retrofit

    vectors, path = graph_fixture(tmp_path)
    edges, _ = retrofit.read_edges(path, vectors, symmetric=False)
    # retrofit.py's loop, written from its update: q_i = (deg·q̂_i + Σ_j q_j) / (2·deg), words in order
    lexicon = defaultdict(list)
    for i, j in edges:
        lexicon[i].append(j)
    q = vectors.matrix.astype(np.float64).copy()
    for _ in range(10):
        for i in sorted(lexicon):
            deg = len(lexicon[i])
            q[i] = (deg * vectors.matrix[i] + sum(q[j] for j in lexicon[i])) / (2 * deg)
    out = retrofit.retrofit(vectors, {e: b for e, b in edges.items() if e != (5, 6)} | {(5, 6): 1.0}, iterations=10, exact=False)
    np.testing.assert_allclose(out.matrix, q, atol=1e-6)


# --- pictures ----------------------------------------------------------------------------------------


def test_pca_keeps_the_geometry_of_points_on_a_plane():
    from seqjax.embeddings.plots import pca

    rng = np.random.default_rng(5)
    plane = rng.normal(size=(20, 2)) * [3.0, 1.0]
    basis = np.linalg.qr(rng.normal(size=(6, 2)))[0]  # an orthonormal plane in 6-D
    points = pca(plane @ basis.T + 7.0)
    dist = lambda z: np.linalg.norm(z[:, None] - z[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(dist(points), dist(plane), atol=1e-9)  # an isometry: distances kept exactly
    assert np.var(points[:, 0]) > np.var(points[:, 1])  # the first axis carries the most variance


def test_tsne_keeps_clusters_apart_and_the_plots_are_written(tmp_path):
    from seqjax.embeddings.plots import proximity_plot, tsne, vector_heatmap

    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(size=(10, 8)), rng.normal(size=(10, 8)) + 8.0])
    y = tsne(x, perplexity=5, steps=500)
    d = np.linalg.norm(y[:, None] - y[None], axis=-1)
    within = max(d[:10, :10].max(), d[10:, 10:].max())
    assert d[:10, 10:].min() > within  # every point is nearer to its own cluster
    v = hand_vectors()
    for method in ("pca", "tsne"):
        path = proximity_plot(v, list(HAND) + ["dragon"], tmp_path / f"{method}.png", method=method)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert vector_heatmap(v, ["king", "queen", "man", "woman"], tmp_path / "bands.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="perplexity must lie in"):
        tsne(x[:4], perplexity=5)


def test_conceptnet_assertions(tmp_path):
    from seqjax.embeddings import retrofit

    rows = [("/a/1", "/r/Synonym", "/c/en/w0/n", "/c/en/w1", '{"weight": 2.0}'),
            ("/a/2", "/r/Antonym", "/c/en/w0", "/c/en/w2", '{"weight": 1.0}'),   # says they differ: left out
            ("/a/3", "/r/RelatedTo", "/c/en/w3", "/c/fr/chat", '{"weight": 1.0}'),  # another language
            ("/a/4", "/r/RelatedTo", "/c/en/w3", "/c/en/ice_cream", '{"dataset": "x"}')]
    path = tmp_path / "assertions.csv"
    path.write_text("".join("\t".join(r) + "\n" for r in rows))
    pairs = retrofit.conceptnet_pairs(path)
    assert pairs == [("w0", "w1", 2.0), ("w3", "ice_cream", 1.0)]
    assert retrofit.conceptnet_pairs(path, relations=["Synonym"]) == [("w0", "w1", 2.0)]
    vectors, _ = graph_fixture(tmp_path)
    edges, unknown = retrofit.edges_from_pairs(vectors, pairs)
    assert unknown == 1 and edges[(0, 1)] == edges[(1, 0)] == 2.0
    path.write_text("/a/1\t/r/Synonym\t/c/en/a\n")
    with pytest.raises(DataFormatError, match="line 1: expected 5 tab-separated fields"):
        retrofit.conceptnet_pairs(path)


def test_merge_keeps_the_concatenations_geometry():
    from seqjax.embeddings.merge import merge
    from seqjax.embeddings.vectors import unit

    a, b = random_vectors(n=30, d=5, seed=7), random_vectors(n=25, d=4, seed=8)
    full = merge([a, b], dim=9)
    assert full.words == b.words and full.dim == 9  # the shared words (w0..w24, Ünïcode), in the first set's order
    x = np.concatenate([unit(a.matrix[[a.index[w] for w in full.words]]), unit(b.matrix[[b.index[w] for w in full.words]])], axis=1)
    np.testing.assert_allclose(full.matrix @ full.matrix.T, x @ x.T, atol=1e-5)  # all dimensions kept: inner products exact
    small = merge([a, b], dim=3)
    assert small.dim == 3 and np.linalg.norm(small.matrix @ small.matrix.T - x @ x.T) < np.linalg.norm(x @ x.T)
    union = merge([a, b], dim=4, vocabulary="union")
    assert len(union) == 31  # w0..w29 and Ünïcode
    with pytest.raises(ValueError, match="dim must be an int in"):
        merge([a, b], dim=20)
