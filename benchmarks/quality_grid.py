"""Grid search over the view mix, scored like `jobsim eval`, fast enough to try many mixes.

Each view (full text, title, title n-grams) is vectorised once with the production code
(jobsim.vectorizer on postings validated by jobsim.postings) and cached in .cache/; since the stored
vector's cosine is the weighted mix of the views' cosines, every mix is then a weighted sum of
three similarity matrices. Scores are precision@k and nDCG@k over postings whose label has at
least k+1 members (jobsim.evaluation). The context bonus and the minimum score are left out:
`jobsim eval` measures the chosen mixes end to end with them.

    .venv/bin/python benchmarks/quality_grid.py ../shared/data/esco_occupations_en.csv --label isco3
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from jobsim.embedders.registry import create_embedder
from jobsim.evaluation import load_labelled, precision_at_k
from jobsim.postings.schema import PostingIn
from jobsim.postings.writer import new_posting
from jobsim.settings import Settings
from jobsim.storage.models import Posting
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer

CACHE = Path(".cache/quality_grid")
WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)


def load(path: Path, label: str, settings: Settings) -> tuple[list[Posting], dict[str, str]]:
    labelled = load_labelled(path, label)
    recipe = VectorRecipe.from_settings(settings).text
    postings: list[Posting] = []
    for _, raw, error in labelled.records:
        if raw is None or error:
            continue
        try:
            postings.append(new_posting(PostingIn.model_validate(raw), recipe))
        except ValidationError:
            continue
    kept = {p.id for p in postings}
    return postings, {pid: lab for pid, lab in labelled.labels.items() if pid in kept}


def view_vectors(view: str, postings: list[Posting], settings: Settings) -> np.ndarray:
    one_view = settings.model_copy(update={"vector_views": f"{view}:1"})
    vectorizer = PostingVectorizer(
        create_embedder(settings.embedder, settings), VectorRecipe.from_settings(one_view)
    )
    inputs = [vectorizer.inputs(p) for p in postings]
    key = hashlib.sha256("".join(i.content_hash for i in inputs).encode()).hexdigest()[:16]
    cache = CACHE / f"{vectorizer.name.replace('/', '_').replace(':', '_')}-{key}.npy"
    if cache.exists():
        cached: np.ndarray = np.load(cache)
        return cached
    start = time.perf_counter()
    vectors = np.vstack([vectorizer.vectors(inputs[i : i + 64]) for i in range(0, len(inputs), 64)])
    print(f"view {view}: {len(inputs) / (time.perf_counter() - start):.1f} postings/s")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def ranking(similarity: np.ndarray, ids: list[str], k: int) -> dict[str, list[str]]:
    scores = similarity.copy()
    np.fill_diagonal(scores, -np.inf)
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, 1).argsort(axis=1)[:, ::-1]
    top = np.take_along_axis(top, order, 1)
    return {pid: [ids[j] for j in top[i]] for i, pid in enumerate(ids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--label", required=True)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    settings = Settings()
    postings, labels = load(args.path, args.label, settings)
    ids = [p.id for p in postings]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; jobsim "
        f"{metadata.version('jobsim')}; embedder {settings.embedder}; recipe fields "
        f"{settings.text_fields}; {len(postings)} postings from {args.path.name}\n"
    )
    views = {name: view_vectors(name, postings, settings) for name in ("full", "title", "lexical")}
    sims = {name: v @ v.T for name, v in views.items()}
    print(f"| full | title | lexical | precision@{args.k} | nDCG@{args.k} |")
    print("|---|---|---|---|---|")
    rows = []
    for full, title, lexical in itertools.product(WEIGHTS, repeat=3):
        total = full + title + lexical
        if total == 0 or round(total, 6) > 1.0:
            continue
        mix = (full * sims["full"] + title * sims["title"] + lexical * sims["lexical"]) / total
        precision, ndcg, _ = precision_at_k(ranking(mix, ids, args.k), labels, args.k)
        rows.append((precision, ndcg, full, title, lexical))
    for precision, ndcg, full, title, lexical in sorted(rows, reverse=True):
        print(f"| {full:g} | {title:g} | {lexical:g} | {precision:.3f} | {ndcg:.3f} |")


if __name__ == "__main__":
    main()
