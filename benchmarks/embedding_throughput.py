"""Embedding throughput of the production vectorizer on this machine.

Builds postings of about 150 and 600 words from the bundled ESCO sample's vocabulary, runs them
through PostingVectorizer (the worker's code path) with the default local model, and prints a
table with the machine, versions, postings/s and the ratio to the 15 postings/s target.

    .venv/bin/python benchmarks/embedding_throughput.py [--postings 192]
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

from jobsim.embedders.registry import create_embedder
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


def measure(vectorizer: PostingVectorizer, batch: list[Posting], size: int) -> float:
    inputs = [vectorizer.inputs(p) for p in batch]
    vectorizer.vectors(inputs[:size])  # warm-up
    start = time.perf_counter()
    for offset in range(0, len(inputs), size):
        vectorizer.vectors(inputs[offset : offset + size])
    return len(inputs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=192)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    settings = Settings()
    embedder = create_embedder(settings.embedder, settings)
    embedder.check()
    words = vocabulary()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}; python {platform.python_version()}; torch "
        f"{metadata.version('torch')}; sentence-transformers "
        f"{metadata.version('sentence-transformers')}; jobsim {metadata.version('jobsim')}"
    )
    print(f"model: {settings.embedder}; batch {args.batch}; {args.postings} postings per row\n")
    print("| views | words/posting | postings/s | ratio to 15/s target |")
    print("|---|---|---|---|")
    for spec in (settings.vector_views, "full:1"):
        recipe = VectorRecipe.from_settings(settings.model_copy(update={"vector_views": spec}))
        vectorizer = PostingVectorizer(embedder, recipe)
        for words_per_posting in (150, 600):
            rate = measure(
                vectorizer, postings(args.postings, words_per_posting, words), args.batch
            )
            print(f"| {spec} | {words_per_posting} | {rate:.1f} | {rate / TARGET:.2f} |")


if __name__ == "__main__":
    main()
