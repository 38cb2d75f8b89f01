"""What the HTTP providers share: one request path, error classification and message hygiene.

Every provider answer is sorted into the error classes of jobsim.errors here and only here:
429 is RateLimited (with Retry-After), 408/5xx/timeouts/connection failures are TransientError,
any other 4xx and any malformed success body is PermanentError. Messages never contain the API
key (even when the server echoes it) and carry at most MAX_DETAIL_CHARS of the provider's text.
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
import numpy as np

from jobsim import errors, metrics
from jobsim.embedders.base import Embedder, FloatMatrix, validate_vectors
from jobsim.embedders.limiter import RateLimiter, estimate_tokens
from jobsim.errors import ConfigurationError, PermanentError, RateLimited, TransientError

MAX_DETAIL_CHARS = 200
_WHITESPACE = re.compile(r"\s+")


def sanitize(text: str, secrets: Sequence[str | None] = ()) -> str:
    """Remove secrets and key-shaped tokens, collapse whitespace, cut to MAX_DETAIL_CHARS."""
    return errors.sanitize(_WHITESPACE.sub(" ", text).strip(), secrets, MAX_DETAIL_CHARS)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until_http_date(value, now)
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _seconds_until_http_date(value: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def provider_detail(response: httpx.Response) -> str:
    """The provider's own error text: `error.message` when the body has one, else the raw body."""
    try:
        payload = response.json()
    except ValueError:
        return response.text
    if isinstance(payload, dict):
        error = payload.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(message, str):
            return message
        if isinstance(error, str):
            return error
    return response.text


def classify_response(response: httpx.Response, provider: str, secret: str | None) -> None:
    """Raise the jobsim error matching a non-2xx response; return quietly on success."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = sanitize(provider_detail(response), [secret])
    message = f"{provider} embeddings request failed: HTTP {status}: {detail}"
    if status == 429:
        raise RateLimited(message, parse_retry_after(response.headers.get("Retry-After")))
    if status == 408 or status >= 500:
        raise TransientError(message)
    raise PermanentError(message)


def post_json(
    client: httpx.Client,
    url: str,
    body: object,
    *,
    headers: dict[str, str],
    provider: str,
    secret: str | None,
) -> object:
    """POST `body` as JSON and return the decoded JSON answer, or raise a classified error."""
    try:
        response = client.post(url, json=body, headers=headers)
    except httpx.TimeoutException as exc:
        metrics.inc(metrics.PROVIDER_REQUESTS, provider=provider, status="timeout")
        raise TransientError(
            f"{provider} embeddings request timed out ({type(exc).__name__})"
        ) from exc
    except httpx.TransportError as exc:
        metrics.inc(metrics.PROVIDER_REQUESTS, provider=provider, status="connection_error")
        detail = sanitize(str(exc), [secret])
        raise TransientError(f"{provider} embeddings request failed to connect: {detail}") from exc
    metrics.inc(metrics.PROVIDER_REQUESTS, provider=provider, status=str(response.status_code))
    classify_response(response, provider, secret)
    try:
        return response.json()
    except ValueError as exc:
        raise PermanentError(f"{provider} embeddings response is not JSON") from exc


def to_rows(values: object, provider: str) -> list[list[float]]:
    """Check that `values` is a list of non-empty lists of numbers (shape checks come later)."""
    if not isinstance(values, list) or not values:
        raise PermanentError(f"{provider} embeddings response has no vectors")
    for row in values:
        if not isinstance(row, list) or not row:
            raise PermanentError(f"{provider} embeddings response has a vector that is not a list")
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in row):
            raise PermanentError(f"{provider} embeddings response has a non-numeric value")
    return values


def response_items(payload: object, key: str, expected: int, provider: str) -> list[Any]:
    """The list under `key` of a decoded response body, checked to hold `expected` items."""
    items = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise PermanentError(f"{provider} embeddings response has no {key!r} list")
    if len(items) != expected:
        raise PermanentError(
            f"{provider} embeddings response has {len(items)} vectors, expected {expected}"
        )
    return items


def chunks(texts: Sequence[str], size: int) -> list[Sequence[str]]:
    return [texts[start : start + size] for start in range(0, len(texts), size)]


def check_base_url(base_url: str, provider: str) -> str:
    """Return the URL without a trailing slash, or raise ConfigurationError if it is not http(s)."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        raise ConfigurationError(f"{provider} base URL {base_url!r} is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"{provider} base URL {base_url!r} must be an http(s) URL")
    return base_url.rstrip("/")


class HttpEmbedder(Embedder):
    """Batching, limiting, dims discovery and validation for a JSON-over-HTTP provider.

    Subclasses describe their provider with class attributes (`provider`, `default_base_url`,
    `default_max_batch`, `default_max_input_chars`, `known_dims`), adjust construction through the
    `_check_api_key`, `_normalize_model` and `_default_max_input_chars` hooks, and describe their
    wire format with `_url`, `_body`, `_headers` and `_vectors`.
    When `dims` is not known up front (neither given nor in `known_dims`) it is discovered from
    the first response (check() makes one tiny request for that); reading `dims` before then
    triggers that request.
    """

    provider: ClassVar[str] = "http"
    default_base_url: ClassVar[str]
    default_max_batch: ClassVar[int]
    default_max_input_chars: ClassVar[int]
    known_dims: ClassVar[Mapping[str, int]] = {}

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        name: str | None = None,
        timeout: float = 30.0,
        dims: int | None = None,
        max_batch: int | None = None,
        max_input_chars: int | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        if base_url is None:
            base_url = self.default_base_url
        self._check_api_key(api_key, base_url)
        model = self._normalize_model(model)
        if max_input_chars is None:
            max_input_chars = self._default_max_input_chars(model)
        if max_batch is None:
            max_batch = self.default_max_batch
        if not model:
            raise ConfigurationError(f"{self.provider} model name is empty")
        if max_batch < 1:
            raise ConfigurationError("max_batch must be >= 1")
        self.name = name or f"{self.provider}:{model}"
        self.model = model
        self.base_url = check_base_url(base_url, self.provider)
        self._api_key = api_key or None
        self._dims = dims if dims is not None else self.known_dims.get(model)
        self.max_batch = max_batch
        self.max_input_chars = max_input_chars
        self.limiter = limiter or RateLimiter()
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)

    def _check_api_key(self, api_key: str | None, base_url: str) -> None:
        """Raise ConfigurationError when this provider cannot work without a key; default: none."""

    def _normalize_model(self, model: str) -> str:
        """The model name as the provider's URLs and bodies want it; default: unchanged."""
        return model

    def _default_max_input_chars(self, model: str) -> int:
        """`max_input_chars` when the caller gives none; default: `default_max_input_chars`."""
        return self.default_max_input_chars

    @property
    def dims(self) -> int:
        if self._dims is None:
            self.check()
        if self._dims is None:  # check() always sets it or raises; keeps mypy honest
            raise PermanentError(f"{self.provider} embedding dimension is unknown")
        return self._dims

    @dims.setter
    def dims(self, value: int) -> None:
        self._dims = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        parts = [self._embed_chunk(chunk) for chunk in chunks(texts, self.max_batch)]
        return np.concatenate(parts, axis=0)

    def check(self) -> None:
        """One tiny request: proves the endpoint, model and key work, and learns `dims`."""
        self._embed_chunk(["jobsim startup check"])

    def close(self) -> None:
        self._client.close()

    def _embed_chunk(self, texts: Sequence[str]) -> FloatMatrix:
        self.limiter.acquire(estimate_tokens(texts))
        try:
            payload = post_json(
                self._client,
                self._url(),
                self._body(texts),
                headers=self._headers(),
                provider=self.provider,
                secret=self._api_key,
            )
        except RateLimited as exc:
            metrics.inc(metrics.RATE_LIMITED, provider=self.provider)
            if exc.retry_after is not None:
                self.limiter.pause_for(exc.retry_after)
            raise
        rows = to_rows(self._vectors(payload, len(texts)), self.provider)
        if self._dims is None:
            self._dims = len(rows[0])
        return self._validate(rows, len(texts))

    def _validate(self, rows: list[list[float]], expected: int) -> FloatMatrix:
        try:
            return validate_vectors(rows, expected, self._dims or 0)
        except ValueError:  # ragged rows: numpy cannot even build the matrix
            raise PermanentError(
                f"{self.provider} embeddings response has vectors of different lengths"
            ) from None

    @abc.abstractmethod
    def _url(self) -> str: ...

    @abc.abstractmethod
    def _body(self, texts: Sequence[str]) -> object: ...

    @abc.abstractmethod
    def _headers(self) -> dict[str, str]: ...

    @abc.abstractmethod
    def _vectors(self, payload: object, expected: int) -> object:
        """Pull the vectors, in input order, out of a decoded response body."""
