"""The Embedder interface every provider implements, and the vector checks they all share."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from jobsim.errors import PermanentError

FloatMatrix = npt.NDArray[np.float32]


class Embedder(abc.ABC):
    """Turns texts into L2-normalised float32 vectors.

    `name` is the full spec string (e.g. ``local:all-MiniLM-L6-v2``) and is stored with every
    vector, so changing it re-embeds everything. `max_batch` is the most texts one call to the
    provider may carry; `embed` splits larger inputs itself. `max_input_chars` is a conservative
    character budget for one text, used by the text recipe to truncate before the model does.
    """

    name: str
    dims: int
    max_batch: int = 64
    max_input_chars: int = 2000

    @abc.abstractmethod
    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """Return a (len(texts), dims) float32 array of unit vectors, in input order."""

    def check(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Startup check (model loads, key valid); raises PermanentError when it cannot work."""

    def close(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Release what the embedder holds (connections, a loaded model); safe to call twice."""


def validate_vectors(vectors: object, expected_rows: int, dims: int) -> FloatMatrix:
    """Check a provider's output and return it as unit float32 rows.

    Raises PermanentError for a wrong shape, non-finite values or an all-zero vector: storing
    such a vector would silently corrupt every similar list it touches.
    """
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != expected_rows:
        raise PermanentError(
            f"embedding response has shape {array.shape}, expected ({expected_rows}, {dims})"
        )
    if array.shape[1] != dims:
        raise PermanentError(f"embedding has {array.shape[1]} dimensions, expected {dims}")
    if not np.all(np.isfinite(array)):
        raise PermanentError("embedding contains NaN or infinite values")
    # In float64: squares of float32 components above ~1.8e19 overflow float32, and the rows
    # came out as all-zero "unit" vectors (x / inf) that passed this check.
    wide = array.astype(np.float64)
    norms = np.linalg.norm(wide, axis=1)
    if np.any(norms == 0):
        raise PermanentError("embedding is an all-zero vector")
    normalised: FloatMatrix = (wide / norms[:, None]).astype(np.float32)
    if not np.all(np.isfinite(normalised)) or not np.all(normalised.any(axis=1)):
        raise PermanentError("embedding cannot be normalised to a unit vector")
    return normalised
