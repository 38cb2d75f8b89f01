"""Does the minimum score suit short postings? Measured on the bundled sample with the real model.

A new user's first posting is short: a title and a sentence ("Senior Python Developer: Build
APIs in Python and FastAPI for our job board."), not the paragraph of skills, requirements and
description the sample postings carry. Every sample posting is asked for its similar postings
three ways, through the production vectorizer, views and score (context bonus included):

- `full`: the posting as stored (what the cached lists hold);
- `short`: its title and the first sentence of its description, with its category, city and
  level (no skills, no requirements), as a new user would write it;
- `phrase`: its title alone as a free text (POST /api/jobs/similar), no context.

For each minimum score it prints, per way: the mean number of the top 10 that clear it, how
many of those share the posting's ISCO-08 minor group (`isco3`, the sample's label), the share
of those right (precision), and the share of postings left with fewer than 3 results. Then the
README's example posting against the sample, with the three postings a reader would expect.

    .venv/bin/python benchmarks/short_postings.py [--embedder fake:384]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata, resources

import numpy as np

from jobsim.embedders.registry import create_embedder
from jobsim.index_copy import meta_of
from jobsim.matching import text_inputs
from jobsim.postings.recipe import PostingInputs
from jobsim.postings.schema import PostingIn
from jobsim.postings.writer import new_posting
from jobsim.row_facts import PostingMeta
from jobsim.settings import Settings
from jobsim.similarity import FloatArray, ScoringConfig, VectorIndex
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer

THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
TOP = 10
README_EXAMPLE = {
    "title": "Senior Python Developer",
    "description": "Build APIs in Python and FastAPI for our job board.",
    "category": "IT",
    "location": {"city": "Berlin"},
}
EXPECTED = ("Database developer", "Software architect", "ICT application developer")
_SENTENCE = re.compile(r"(?<=[.!?])\s")


@dataclass(frozen=True)
class Query:
    vector: FloatArray
    meta: PostingMeta


def first_sentence(text: str) -> str:
    sentence = _SENTENCE.split(text.strip(), maxsplit=1)[0]
    return sentence if len(sentence) >= 20 else text[:200]


def vectorize(vectorizer: PostingVectorizer, inputs: list[PostingInputs]) -> FloatArray:
    result: FloatArray = vectorizer.vectors(inputs)
    return result


def table(
    name: str,
    index: VectorIndex,
    queries: list[Query],
    ids: list[str],
    labels: dict[str, str],
    config: ScoringConfig,
) -> None:
    """One row per minimum score; `band` is the precision of the top-10 items scored from this
    minimum up to the next one: what lowering the minimum to it adds."""
    listed = index.candidates(datetime.now(UTC))
    tops: list[list[tuple[float, bool]]] = []
    for i, query in enumerate(queries):
        score, _, _ = index.score_all(query.vector, query.meta, config)
        score[i] = -np.inf  # not itself
        order = [j for j in np.argsort(-score, kind="stable") if listed[j]][:TOP]
        tops.append([(float(score[j]), labels[ids[j]] == labels[ids[i]]) for j in order])
    bounds = (*THRESHOLDS, np.inf)
    for threshold, upper in itertools.pairwise(bounds):
        kept = [[right for score, right in top if score >= threshold] for top in tops]
        band = [right for top in tops for score, right in top if threshold <= score < upper]
        total = sum(len(k) for k in kept)
        hits = sum(sum(k) for k in kept)
        short = sum(len(k) < 3 for k in kept) / len(kept)
        print(
            f"| {name} | {threshold:.2f} | {total / len(kept):.1f} | {hits / len(kept):.1f} "
            f"| {hits / total if total else 0:.2f} | {np.mean(band) if band else 0:.2f} "
            f"| {short:.0%} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", help="default: JOBSIM_EMBEDDER (the local model)")
    args = parser.parse_args()
    settings = Settings(**({"embedder": args.embedder} if args.embedder else {}))
    recipe = VectorRecipe.from_settings(settings)
    vectorizer = PostingVectorizer(create_embedder(recipe.embedder, settings), recipe)
    config = ScoringConfig.from_settings(settings)
    sample = resources.files("jobsim.data").joinpath("sample_postings.jsonl")
    records = [json.loads(line) for line in sample.read_text("utf-8").splitlines() if line]
    postings = [new_posting(PostingIn.model_validate(r), recipe.text) for r in records]
    ids = [p.id for p in postings]
    labels = {r["id"]: str(r["isco3"]) for r in records}
    titles = {p.id: p.title for p in postings}

    started = time.perf_counter()
    full = vectorize(vectorizer, [vectorizer.inputs(p) for p in postings])
    shorts = []
    for record in records:
        short = {k: v for k, v in record.items() if k not in ("tags", "requirements")}
        short["description"] = first_sentence(record["description"])
        shorts.append(new_posting(PostingIn.model_validate(short), recipe.text))
    short_vectors = vectorize(vectorizer, [vectorizer.inputs(p) for p in shorts])
    phrases = vectorize(vectorizer, [text_inputs(recipe, p.title) for p in postings])
    seconds = time.perf_counter() - started

    index = VectorIndex(vectorizer.dims, capacity=len(postings))
    for posting, vector in zip(postings, full, strict=True):
        index.upsert(posting.id, vector, meta_of(posting))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; python "
        f"{platform.python_version()}; numpy {np.__version__}; jobsim {metadata.version('jobsim')}"
    )
    print(f"model: {vectorizer.name}; {len(postings)} sample postings, 3 ways in {seconds:.0f} s")
    print(f"score = {config.weight_semantic} x semantic + {config.weight_context} x context\n")
    group = {pid: sum(labels[o] == labels[pid] for o in ids) - 1 for pid in ids}
    ceiling = np.mean([min(n, TOP) for n in group.values()])
    chance = np.mean(list(group.values())) / (len(ids) - 1)
    print(
        f"the same isco3 is at most {ceiling:.1f} of a top {TOP} on average; "
        f"a random posting shares it {chance:.2f}\n"
    )
    print(
        "| way | minimum score | results (top 10) | same isco3 | precision "
        "| precision of the band up to the next minimum | fewer than 3 |"
    )
    print("|---|---|---|---|---|---|---|")
    ways = {
        "full": [Query(v, meta_of(p)) for p, v in zip(postings, full, strict=True)],
        "short": [Query(v, meta_of(p)) for p, v in zip(shorts, short_vectors, strict=True)],
        "phrase": [Query(v, PostingMeta()) for v in phrases],
    }
    for name, queries in ways.items():
        table(name, index, queries, ids, labels, config)

    example = new_posting(PostingIn.model_validate(README_EXAMPLE), recipe.text)
    vector = vectorize(vectorizer, [vectorizer.inputs(example)])[0]
    score, semantic, _ = index.score_all(vector, meta_of(example), config)
    order = np.argsort(-score, kind="stable")
    print(f"\nThe README's example ({example.title!r}, {example.description!r}):")
    for rank, j in enumerate(order[:8], 1):
        print(f"  {rank:>2}. {score[j]:.3f} (semantic {semantic[j]:.3f})  {titles[ids[j]]}")
    for title in EXPECTED:
        j = next(k for k, pid in enumerate(ids) if titles[pid] == title)
        rank = int(np.flatnonzero(order == j)[0]) + 1
        print(f"  {title}: rank {rank}, score {score[j]:.3f}")


if __name__ == "__main__":
    main()
