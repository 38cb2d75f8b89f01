"""`jobsim eval` on small labelled CSVs the tests write (fake embedder: fast, deterministic)."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jobsim.evaluation import load_labelled, precision_at_k

GROUPS = {
    "drivers": ("Truck Driver", "drive heavy trucks deliver cargo routes highway licence"),
    "cooks": ("Line Cook", "cook meals kitchen restaurant grill menu chef service"),
    "devs": ("Python Developer", "python backend code api software django testing"),
}


def write_labelled_csv(path: Path, per_group: int = 12) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "description", "category", "occupation", "extra"])
        for label, (title, words) in GROUPS.items():
            for i in range(per_group):
                description = f"{words} position number {i} with our team in the city"
                writer.writerow([f"{label}-{i}", f"{title} {i}", description, "Jobs", label, "x"])


def run_eval(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JOBSIM_EMBEDDER": "fake:64", "JOBSIM_LOG_LEVEL": "WARNING"}
    env.pop("JOBSIM_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "jobsim.cli", "eval", str(path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_eval_prints_a_table_of_methods_and_ends_with_the_production_precision(
    tmp_path: Path,
) -> None:
    data = tmp_path / "labelled.csv"
    write_labelled_csv(data)

    result = run_eval(data, "--label", "occupation")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"precision@10: [01]\.\d{3}", lines[-1])
    table = {row.split("|")[1].strip(): row for row in lines if row.startswith("| ")}
    assert {"production", "random", "fallback", "tf-idf title+description"} <= set(table)
    production = float(lines[-1].split(": ")[1])
    random_precision = float(table["random"].split("|")[2])
    assert production >= 0.9 > random_precision
    assert "postings/s" in result.stdout


def test_eval_never_uses_the_label_column_as_an_input(tmp_path: Path) -> None:
    data = tmp_path / "labelled.csv"
    write_labelled_csv(data)

    labelled = load_labelled(data, "category")

    assert all(r[1] is not None and "category" not in r[1] for r in labelled.records)
    assert set(labelled.labels.values()) == {"Jobs"}


def test_an_unknown_label_column_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "labelled.csv"
    write_labelled_csv(data)

    result = run_eval(data, "--label", "isco9")

    assert result.returncode != 0
    assert "no column 'isco9'" in result.stderr


def test_precision_counts_missing_neighbours_as_wrong_and_skips_small_labels() -> None:
    labels = {f"a{i}": "a" for i in range(3)} | {"b0": "b"}
    ranking = {"a0": ["a1"], "a1": ["a0", "a2"], "a2": ["b0", "a0"]}

    precision, ndcg, scored = precision_at_k(ranking, labels, k=2)

    assert scored == 3  # label "b" has fewer than k + 1 members and is not scored
    assert precision == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert 0 < ndcg < 1


def test_the_embedder_and_the_dictionaries_can_be_chosen_for_one_run(tmp_path: Path) -> None:
    data = tmp_path / "labelled.csv"
    write_labelled_csv(data)

    result = run_eval(
        data, "--label", "occupation", "--embedder", "fake:16", "--glossary-dir", "", "--views",
        "full:0.5,title:0.5", "--no-references",
    )  # fmt: skip
    unknown = run_eval(data, "--label", "occupation", "--embedder", "nonsense:1")

    assert result.returncode == 0, result.stderr
    assert "embedder: fake:16#full:0.5,title:0.5" in result.stdout
    assert "#gloss" not in result.stdout
    assert unknown.returncode != 0 and "nonsense" in unknown.stderr
