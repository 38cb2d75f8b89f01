"""Write the common direction of multilingual-e5-small's embeddings of job postings.

e5's embeddings share one large component: any two job texts have a cosine of 0.75-0.95, so a
score of 0.8 says nothing and a view mix on raw cosines lets the view with the widest spread
win. `E5Embedder` subtracts this mean vector and normalises again ("centering"), which spreads
cosines over about -0.2..1 like other models'. The mean is taken over the bundled sample
postings' title texts and full texts, as the default recipe builds them, embedded without
centering; it is shipped with the package, so every process centers the same way.

    .venv/bin/python scripts/build_e5_center.py
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from jobsim.embedders.e5 import MODELS, E5Embedder
from jobsim.postings.schema import PostingIn
from jobsim.postings.writer import new_posting
from jobsim.settings import Settings
from jobsim.vector_recipe import VectorRecipe

OUT = Path(__file__).resolve().parents[1] / "src" / "jobsim" / "data"


def main() -> None:
    recipe = VectorRecipe.from_settings(Settings(glossary_dir=""))
    lines = resources.files("jobsim.data").joinpath("sample_postings.jsonl").read_text("utf-8")
    postings = [
        new_posting(PostingIn.model_validate(json.loads(line)), recipe.text)
        for line in lines.splitlines()
        if line.strip()
    ]
    inputs = [recipe.inputs(posting) for posting in postings]
    texts = [i.title_text for i in inputs] + [i.full_text for i in inputs]
    for name, bundled in MODELS.items():
        embedder = E5Embedder(name, center=False)
        try:
            mean = embedder.embed(texts).mean(axis=0).astype(np.float32)
        finally:
            embedder.close()
        np.save(OUT / bundled.center_file, mean)
        print(f"{name}: mean of {len(texts)} texts, norm {np.linalg.norm(mean):.3f}")


if __name__ == "__main__":
    main()
