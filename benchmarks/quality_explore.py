"""The ideas docs/quality.md lists as explored and not adopted, one command each.

Every idea builds a similarity matrix over the labelled postings, from the production views
(cached by benchmarks/quality_grid.py) and from the raw fields, and is scored like `jobsim eval`
(precision@k and nDCG@k over postings whose label has at least k+1 members), alone and mixed
into the default view mix where that is how it would be used. No context bonus or minimum score.

    .venv/bin/python benchmarks/quality_explore.py ../shared/data/pl_job_ads_dev.csv \
        --label isco4 --idea whiten --idea csls
"""

from __future__ import annotations

import argparse
import os
import platform
import re
from collections import Counter
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from quality_grid import load, ranking, view_vectors
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from jobsim.evaluation import precision_at_k
from jobsim.lexical import lexical_vector
from jobsim.settings import Settings
from jobsim.vector_recipe import VectorRecipe

Matrix = np.ndarray


class Corpus:
    def __init__(self, path: Path, label: str, k: int, settings: Settings) -> None:
        self.settings = settings
        self.postings, self.labels = load(path, label, settings)
        self.ids = [p.id for p in self.postings]
        self.k = k
        views = {name: view_vectors(name, self.postings, settings) for name in VIEWS}
        self.views = views
        self.sims = {name: v @ v.T for name, v in views.items()}
        configured = VectorRecipe.from_settings(settings).views
        self.weights = {name: float(getattr(configured, name)) for name in VIEWS}

    @property
    def default_mix(self) -> Matrix:
        return mix(self.sims, self.weights)

    def score(self, similarity: Matrix) -> str:
        precision, ndcg, _ = precision_at_k(
            ranking(similarity, self.ids, self.k), self.labels, self.k
        )
        return f"{precision:.3f} | {ndcg:.3f}"


VIEWS = ("full", "title", "lexical")


def mix(sims: dict[str, Matrix], weights: dict[str, float]) -> Matrix:
    total = np.zeros_like(sims["full"])
    for name, weight in weights.items():
        total += weight * sims[name]
    return total


def unit_rows(matrix: Matrix) -> Matrix:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    result: Matrix = matrix / np.where(norms > 0, norms, 1.0)
    return result


def cosine(matrix: Matrix) -> Matrix:
    rows = unit_rows(np.asarray(matrix, dtype=np.float32))
    result: Matrix = rows @ rows.T
    return result


def sparse_cosine(features: Any) -> Matrix:
    """Cosine of L2-normalised sparse rows (scikit-learn's TF-IDF output)."""
    return np.asarray((features @ features.T).toarray(), dtype=np.float32)


def normalised_title(title: str) -> str:
    title = re.sub(r"\(.*?\)|\[.*?\]", "", title.lower())
    title = re.split(r"[-–/|,:!]", title)[0]
    return " ".join(re.sub(r"[^\w\s]", " ", title).split()[:3])


# --- ideas: each returns rows of (variant, similarity matrix) --------------------------------

Rows = list[tuple[str, Matrix]]


def idea_title_ngram_tfidf(corpus: Corpus) -> Rows:
    titles = [p.title for p in corpus.postings]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    similarity = sparse_cosine(vectorizer.fit_transform(titles))
    return [
        ("title character 3-5-grams, TF-IDF (corpus IDF)", similarity),
        ("lexical view (hashed, no IDF), for comparison", corpus.sims["lexical"]),
    ]


def idea_title_word_tfidf(corpus: Corpus) -> Rows:
    titles = [p.title for p in corpus.postings]
    return [("title words, TF-IDF", sparse_cosine(TfidfVectorizer().fit_transform(titles)))]


def idea_description_tfidf(corpus: Corpus) -> Rows:
    descriptions = [p.description for p in corpus.postings]
    rows: Rows = []
    for max_df in (0.02, 0.1, 1.0):
        tfidf = TfidfVectorizer(sublinear_tf=True, max_df=max_df, min_df=2)
        similarity = sparse_cosine(tfidf.fit_transform(descriptions))
        rows.append((f"description TF-IDF max_df {max_df}", similarity))
        blend = 0.8 * corpus.sims["lexical"] + 0.2 * similarity
        rows.append((f"  blended 0.2 with the title n-grams (max_df {max_df})", blend))
    return rows


def idea_lsa(corpus: Corpus) -> Rows:
    texts = [f"{p.title} {p.title} {p.title} {p.description}" for p in corpus.postings]
    features = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(texts)
    dims = min(300, features.shape[1] - 1)
    reduced = TruncatedSVD(dims, random_state=0).fit_transform(features)
    similarity = cosine(reduced)
    return [
        (f"LSA ({dims} dims) of title x3 + description", similarity),
        ("  blended 0.3 into the default mix", 0.7 * corpus.default_mix + 0.3 * similarity),
    ]


def idea_second_order(corpus: Corpus) -> Rows:
    rows: Rows = []
    base = corpus.default_mix
    for k in (5, 10, 20):
        neighbours = np.argsort(-base, axis=1)[:, 1 : k + 1]
        graph = np.zeros_like(base)
        np.put_along_axis(graph, neighbours, 1.0, axis=1)
        rows.append((f"kNN graph overlap (k {k}) + default mix", base + 0.1 * cosine(graph)))
    return rows


def idea_query_expansion(corpus: Corpus) -> Rows:
    rows: Rows = []
    vectors = np.hstack(
        [np.sqrt(corpus.weights[name]) * corpus.views[name] for name in VIEWS]
    ).astype(np.float32)
    base = vectors @ vectors.T
    for k in (3, 10):
        neighbours = np.argsort(-base, axis=1)[:, :k]
        expanded = unit_rows(vectors[neighbours].mean(axis=1))
        rows.append((f"database-side augmentation (mean of top {k})", expanded @ expanded.T))
    return rows


def idea_zscore(corpus: Corpus) -> Rows:
    def per_query(matrix: Matrix) -> Matrix:
        centred: Matrix = (matrix - matrix.mean(1, keepdims=True)) / matrix.std(1, keepdims=True)
        return centred

    def global_z(matrix: Matrix) -> Matrix:
        result: Matrix = (matrix - matrix.mean()) / matrix.std()
        return result

    return [
        (
            "per-query z-score",
            mix({n: per_query(s) for n, s in corpus.sims.items()}, corpus.weights),
        ),
        ("global z-score", mix({n: global_z(s) for n, s in corpus.sims.items()}, corpus.weights)),
    ]


def idea_whiten(corpus: Corpus) -> Rows:
    rows: Rows = []
    for dims in (64, 128, 256, None):
        for shrink in (0.0, 0.05):
            sims = dict(corpus.sims)
            for name in ("full", "title"):
                sims[name] = cosine(whitened(corpus.views[name], dims, shrink))
            label = f"whitened MiniLM views ({dims or 'all'} dims, +{shrink})"
            rows.append((label, mix(sims, corpus.weights)))
    return rows


def whitened(vectors: Matrix, dims: int | None, shrink: float) -> Matrix:
    centred = vectors - vectors.mean(0)
    u, s, _ = np.linalg.svd(np.cov(centred.T))
    transform = u / np.sqrt(s + shrink + 1e-9)
    result: Matrix = centred @ (transform[:, :dims] if dims else transform)
    return result


def idea_center(corpus: Corpus) -> Rows:
    sims = {name: cosine(v - v.mean(0)) for name, v in corpus.views.items()}
    return [("views centred on the corpus mean", mix(sims, corpus.weights))]


def idea_csls(corpus: Corpus) -> Rows:
    rows: Rows = []
    base = corpus.default_mix
    for k in (5, 10, 20):
        scores = base.copy()
        np.fill_diagonal(scores, -np.inf)
        density = np.sort(scores, axis=1)[:, -k:].mean(1)
        rows.append((f"hubness correction CSLS (k {k})", 2 * base - density[None, :]))
    return rows


def idea_distant(corpus: Corpus) -> Rows:
    titles = [normalised_title(p.title) for p in corpus.postings]
    counts = Counter(titles)
    classes = sorted(t for t, n in counts.items() if n >= 3 and t)
    index = {t: i for i, t in enumerate(classes)}
    target = np.array([index.get(t, -1) for t in titles])
    features = TfidfVectorizer(sublinear_tf=True, min_df=2, max_df=0.3).fit_transform(
        [p.description for p in corpus.postings]
    )
    probabilities = np.zeros((len(titles), len(classes)), dtype=np.float32)
    for train, test in KFold(5, shuffle=True, random_state=0).split(features):
        known = train[target[train] >= 0]
        model = LogisticRegression(C=10.0, max_iter=300).fit(features[known], target[known])
        probabilities[np.ix_(test, model.classes_)] = model.predict_proba(features[test])
    similarity = cosine(probabilities)
    return [
        (f"distant supervision: description -> title ({len(classes)} titles)", similarity),
        ("  at weight 0.1 in the default mix", 0.9 * corpus.default_mix + 0.1 * similarity),
    ]


def idea_gloss_off(corpus: Corpus) -> Rows:
    """The default mix without glosses, and with the gloss in one semantic view only."""
    plain_settings = corpus.settings.model_copy(update={"glossary_dir": ""})
    plain = {
        name: cosine(view_vectors(name, corpus.postings, plain_settings))
        for name in ("full", "title")
    }
    plain["lexical"] = corpus.sims["lexical"]
    return [
        ("no glosses", mix(plain, corpus.weights)),
        ("glossed title view only", mix(dict(plain, title=corpus.sims["title"]), corpus.weights)),
        ("glossed full view only", mix(dict(plain, full=corpus.sims["full"]), corpus.weights)),
        ("both glossed (the default)", corpus.default_mix),
    ]


def idea_gloss_lexical(corpus: Corpus) -> Rows:
    """Character n-grams of the glossed title as a fourth view."""
    recipe = VectorRecipe.from_settings(corpus.settings)
    dims = corpus.settings.lexical_dims
    glossed = [
        lexical_vector(recipe.glossary.gloss(i.title_text, i.language), dims)
        for i in (recipe.inputs(p) for p in corpus.postings)
    ]
    similarity = cosine(np.array(glossed, dtype=np.float32))
    rows: Rows = [("n-grams of the glossed title", similarity)]
    for weight in (0.1, 0.2):
        blend = corpus.default_mix + weight * similarity
        rows.append((f"  added at weight {weight} to the default mix", blend))
    return rows


def idea_weights(corpus: Corpus) -> Rows:
    rows: Rows = []
    for full, title, lexical in ((0.4, 0.3, 0.3), (0.3, 0.3, 0.4), (0.6, 0, 0.2), (0.2, 0, 0.6)):
        weights = {"full": full, "title": title, "lexical": lexical}
        rows.append((f"full:{full},title:{title},lexical:{lexical}", mix(corpus.sims, weights)))
    return rows


IDEAS: dict[str, Callable[[Corpus], Rows]] = {
    "title-ngram-tfidf": idea_title_ngram_tfidf,
    "title-word-tfidf": idea_title_word_tfidf,
    "description-tfidf": idea_description_tfidf,
    "lsa": idea_lsa,
    "second-order": idea_second_order,
    "query-expansion": idea_query_expansion,
    "zscore": idea_zscore,
    "whiten": idea_whiten,
    "center": idea_center,
    "csls": idea_csls,
    "distant": idea_distant,
    "gloss-off": idea_gloss_off,
    "gloss-lexical": idea_gloss_lexical,
    "weights": idea_weights,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--label", required=True)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--idea", action="append", choices=sorted(IDEAS), required=True)
    args = parser.parse_args()
    settings = Settings()
    corpus = Corpus(args.path, args.label, args.k, settings)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; jobsim "
        f"{metadata.version('jobsim')}; scikit-learn {metadata.version('scikit-learn')}; "
        f"embedder {settings.embedder}; {len(corpus.ids)} postings from {args.path.name}\n"
    )
    print(f"| idea | variant | precision@{args.k} | nDCG@{args.k} |")
    print("|---|---|---|---|")
    reference = corpus.score(corpus.default_mix)
    print(f"| reference | default mix {settings.vector_views} | {reference} |")
    for name in args.idea:
        for variant, similarity in IDEAS[name](corpus):
            print(f"| {name} | {variant} | {corpus.score(similarity)} |", flush=True)


if __name__ == "__main__":
    main()
