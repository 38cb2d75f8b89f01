"""Search phrases in another language than the board's: do they clear the match's minimum?

The cross-lingual test (tests/integration/test_crosslingual.py) has five occupations, each
written in English, Polish, German, Spanish and Albanian. Here the board is the 400 bundled
sample postings (English) plus the English posting of each occupation, embedded by the worker
with the shipped defaults; each of the 25 titles (a search phrase) and the 25 descriptions (a
short CV) is matched as a free text (TextMatcher, POST /api/jobs/similar) with no minimum. It
prints where the occupation's English posting ranks and what it scores, then per kind of text
(English or not, title or description) how often it ranks first and how often it clears each
candidate minimum.

    .venv/bin/python benchmarks/crosslingual_phrases.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for the test's postings

from tests.integration.test_crosslingual import POSTINGS

from jobsim.embedders.registry import create_embedder
from jobsim.importing import import_file
from jobsim.matching import MatchRequest
from jobsim.postings.schema import PostingIn
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage import migrate
from jobsim.storage.engine import Database
from jobsim.worker import Worker

MINIMUMS = (0.2, 0.25, 0.3)


@dataclass(frozen=True)
class Search:
    occupation: str
    language: str
    kind: str  # "title" (a search phrase) or "description" (a short CV)
    rank: int | None  # of the occupation's English posting, among 100 results
    score: float | None
    top: str


def english_board(service: Service) -> dict[str, str]:
    """The sample postings and the English posting of each occupation; their ids by
    occupation."""
    sample = resources.files("jobsim.data").joinpath("sample_postings.jsonl")
    with resources.as_file(sample) as path:
        import_file(service.postings, path)
    english = {}
    for occupation, language, title, description in POSTINGS:
        if language == "en":
            posting_id = "x-" + occupation.replace(" ", "-")
            english[occupation] = posting_id
            fields = {"id": posting_id, "title": title, "description": description}
            service.postings.create(PostingIn.model_validate(fields))
    return english


def searches(service: Service, english: dict[str, str]) -> list[Search]:
    found = []
    for occupation, language, title, description in POSTINGS:
        for kind, text in (("title", title), ("description", description)):
            answer = service.matching.match(MatchRequest(text=text, limit=100))
            ids = [item.id for item in answer.data]
            target = english[occupation]
            rank = ids.index(target) + 1 if target in ids else None
            score = next((item.score for item in answer.data if item.id == target), None)
            top = answer.data[0].title if answer.data else "-"
            found.append(Search(occupation, language, kind, rank, score, top))
    return found


def main() -> None:
    folder = tempfile.mkdtemp(prefix="jobsim-crosslingual-")
    settings = Settings(database_url=f"sqlite:///{folder}/board.db", match_min_score=-1.0)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    service = Service(settings, db)
    english = english_board(service)
    embedder = create_embedder(settings.embedder, settings)
    try:
        Worker(settings, db, embedder).run(burst=True)
        found = searches(service, english)
    finally:
        embedder.close()
        service.matching.close()
    print(f"embedder: {settings.embedder}; board: 400 sample postings + 5 English postings\n")
    print("| occupation | language | text | rank of the English posting | its score | first |")
    print("|---|---|---|---|---|---|")
    for s in found:
        score = "-" if s.score is None else f"{s.score:.3f}"
        print(f"| {s.occupation} | {s.language} | {s.kind} | {s.rank} | {score} | {s.top} |")
    clears = " | ".join(f"score >= {m}" for m in MINIMUMS)
    print(f"\n| text | language | searches | ranked first | {clears} | median score |")
    print("|---|---|---|---|" + "---|" * len(MINIMUMS) + "---|")
    for kind in ("title", "description"):
        for english_text in (True, False):
            group = [s for s in found if s.kind == kind and (s.language == "en") == english_text]
            scores = [s.score or 0.0 for s in group]
            first = sum(s.rank == 1 for s in group) / len(group)
            shares = " | ".join(f"{sum(x >= m for x in scores) / len(group):.2f}" for m in MINIMUMS)
            print(
                f"| {kind} | {'English' if english_text else 'pl, de, es, sq'} | {len(group)} | "
                f"{first:.2f} | {shares} | {statistics.median(scores):.3f} |"
            )
    db.dispose()


if __name__ == "__main__":
    main()
