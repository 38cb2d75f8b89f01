"""Build src/jobsim/data/sample_postings.jsonl, the demo postings the quick start loads.

The postings are synthetic: each one is an ESCO occupation profile (title, description,
alternative titles as tags, ISCO-08 major group as category) dressed up with an invented
company, a European city, an experience level and a salary. Occupations are picked in groups of
five from the same ISCO-08 3-digit group, with the groups spread over all major groups, so that
every posting has related postings to be found. The output is deterministic (fixed seed).

Usage: python scripts/build_sample_postings.py [ESCO_CSV] [--out PATH]
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "esco_occupations_en.csv"
DEFAULT_OUT = REPO / "src" / "jobsim" / "data" / "sample_postings.jsonl"
SEED = 20240601
GROUPS = 80
PER_GROUP = 5
REMOTE_SHARE = 0.15
HYBRID_SHARE = 0.25

MAJOR_GROUPS = {
    "1": "Managers",
    "2": "Professionals",
    "3": "Technicians and associate professionals",
    "4": "Clerical support workers",
    "5": "Service and sales workers",
    "6": "Skilled agricultural, forestry and fishery workers",
    "7": "Craft and related trades workers",
    "8": "Plant and machine operators and assemblers",
    "9": "Elementary occupations",
    "0": "Armed forces occupations",
}
# Invented names; any likeness to a real company is accidental.
COMPANIES = (
    "Northwind Logistics",
    "Bluefjord Systems",
    "Helio Health Group",
    "Vantora Manufacturing",
    "Oakridge Public Services",
    "Lumen & Hart Consulting",
    "Quarry Lane Construction",
    "Meridian Foods",
    "Silverpine Energy",
    "Castellan Retail",
    "Brightwater Hospitality",
    "Ferrum Works",
)
# (city, region, salary factor against the average of the list)
CITIES = (
    ("Berlin", "Berlin", 1.0),
    ("Munich", "Bavaria", 1.1),
    ("Amsterdam", "North Holland", 1.1),
    ("Paris", "Île-de-France", 1.1),
    ("Madrid", "Community of Madrid", 0.85),
    ("Lisbon", "Lisbon", 0.75),
    ("Warsaw", "Masovia", 0.65),
    ("Kraków", "Lesser Poland", 0.6),
)
# Plausible levels per ISCO-08 major group, cycled through within a group.
LEVELS = {
    "1": ("senior", "lead", "executive"),
    "2": ("junior", "mid", "senior", "lead"),
    "3": ("junior", "mid", "senior"),
    "4": ("entry", "junior", "mid"),
    "5": ("entry", "junior", "mid", "senior"),
    "6": ("entry", "junior", "mid", "senior"),
    "7": ("junior", "mid", "senior", "lead"),
    "8": ("entry", "junior", "mid", "senior"),
    "9": ("entry", "junior"),
    "0": ("junior", "mid", "senior", "lead"),
}
# Yearly gross salary in EUR for a mid-level posting, by major group.
BASE_SALARY = {
    "1": 70000,
    "2": 55000,
    "3": 42000,
    "4": 32000,
    "5": 28000,
    "6": 27000,
    "7": 34000,
    "8": 31000,
    "9": 24000,
    "0": 40000,
}
LEVEL_FACTOR = {
    "entry": 0.75,
    "junior": 0.85,
    "mid": 1.0,
    "senior": 1.25,
    "lead": 1.45,
    "executive": 1.9,
}


@dataclass(frozen=True)
class Occupation:
    title: str
    description: str
    alt_titles: tuple[str, ...]
    isco4: str
    isco3: str
    isco1: str


def clean_text(text: str) -> str:
    """Undo export artefacts in ESCO texts: stray backslashes, entities, odd spaces."""
    text = html.unescape(text).replace("\u00a0", " ").replace("\\", "")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def load_occupations(path: Path) -> list[Occupation]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    occupations = [to_occupation(row) for row in rows]
    return sorted((o for o in occupations if usable(o)), key=lambda o: (o.isco4, o.title))


def to_occupation(row: dict[str, str]) -> Occupation:
    title = clean_text(row["title"])
    alts = unique(clean_text(t) for t in row["tags"].split("|"))
    return Occupation(
        title=title[:1].upper() + title[1:],
        description=clean_text(row["description"]),
        alt_titles=tuple(t for t in alts if t.lower() != title.lower()),
        isco4=row["isco4"],
        isco3=row["isco3"],
        isco1=row["isco1"],
    )


def unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item and item.lower() not in seen:
            seen.add(item.lower())
            out.append(item)
    return out


def usable(occupation: Occupation) -> bool:
    return (
        len(occupation.description) >= 20
        and 3 <= len(occupation.title) <= 200
        and len(occupation.alt_titles) >= 3
        and occupation.isco1 in MAJOR_GROUPS
    )


def pick_groups(occupations: Sequence[Occupation], rng: random.Random) -> list[list[Occupation]]:
    """GROUPS isco3 groups of PER_GROUP occupations, taken round-robin over the major groups."""
    by_group: dict[str, list[Occupation]] = defaultdict(list)
    for occupation in occupations:
        by_group[occupation.isco3].append(occupation)
    by_major: dict[str, list[str]] = defaultdict(list)
    for code in sorted(by_group):
        if len(by_group[code]) >= PER_GROUP:
            by_major[code[0]].append(code)
    for codes in by_major.values():
        rng.shuffle(codes)
    chosen: list[str] = []
    while len(chosen) < GROUPS and any(by_major.values()):
        for major in sorted(by_major):
            if by_major[major] and len(chosen) < GROUPS:
                chosen.append(by_major[major].pop())
    return [rng.sample(by_group[code], PER_GROUP) for code in sorted(chosen)]


def build_postings(
    groups: Sequence[Sequence[Occupation]], rng: random.Random
) -> list[dict[str, object]]:
    drafts: list[dict[str, object]] = []
    for group_index, group in enumerate(groups):
        for index, occupation in enumerate(group):
            levels = LEVELS[occupation.isco1]
            level = levels[(group_index + index) % len(levels)]
            drafts.append(posting(occupation, level, rng))
    rng.shuffle(drafts)
    return [{"id": f"esco-{n:04d}", **draft} for n, draft in enumerate(drafts, start=1)]


def posting(occupation: Occupation, level: str, rng: random.Random) -> dict[str, object]:
    location, factor = pick_location(rng)
    tags = rng.sample(occupation.alt_titles, min(len(occupation.alt_titles), rng.randint(3, 5)))
    return {
        "title": occupation.title,
        "description": occupation.description,
        "company": rng.choice(COMPANIES),
        "category": MAJOR_GROUPS[occupation.isco1],
        "tags": tags,
        "location": location,
        "experience_level": level,
        "salary": salary(occupation.isco1, level, factor, rng),
        "status": "active",
        "isco4": occupation.isco4,
        "isco3": occupation.isco3,
    }


def pick_location(rng: random.Random) -> tuple[dict[str, object], float]:
    if rng.random() < REMOTE_SHARE:
        return {"remote": True, "hybrid": False}, 1.0
    city, region, factor = rng.choice(CITIES)
    hybrid = rng.random() < HYBRID_SHARE
    return {"city": city, "region": region, "remote": False, "hybrid": hybrid}, factor


def salary(major: str, level: str, factor: float, rng: random.Random) -> dict[str, object]:
    middle = BASE_SALARY[major] * LEVEL_FACTOR[level] * factor * rng.uniform(0.92, 1.08)
    low = round(middle * 0.9 / 500) * 500
    high = round(low * rng.uniform(1.15, 1.35) / 500) * 500
    return {"min": low, "max": max(high, low + 500), "currency": "EUR"}


def write_jsonl(postings: Sequence[dict[str, object]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for item in postings:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV, help="ESCO occupations")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSONL file to write")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    groups = pick_groups(load_occupations(args.csv), rng)
    postings = build_postings(groups, rng)
    write_jsonl(postings, args.out)
    majors = sorted({group[0].isco1 for group in groups})
    print(f"wrote {len(postings)} postings from {len(groups)} ISCO groups ", end="")
    print(f"(major groups {', '.join(majors)}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
