"""Gemini embeddings over plain HTTP: POST {base_url}/models/{model}:batchEmbedContents."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from jobsim.embedders.http import HttpEmbedder
from jobsim.embedders.limiter import RateLimiter
from jobsim.errors import ConfigurationError, PermanentError

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
KNOWN_DIMS = {
    "text-embedding-004": 768,
    "gemini-embedding-001": 3072,
}
# Both models accept 2048 tokens; 3 chars/token keeps us below that.
GEMINI_MAX_INPUT_CHARS = 6_000
TASK_TYPE = "SEMANTIC_SIMILARITY"


class GeminiEmbedder(HttpEmbedder):
    """Batch-embeds with taskType SEMANTIC_SIMILARITY; the key travels in `x-goog-api-key`."""

    provider = "gemini"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str = GEMINI_BASE_URL,
        name: str | None = None,
        timeout: float = 30.0,
        dims: int | None = None,
        max_batch: int = 100,
        max_input_chars: int = GEMINI_MAX_INPUT_CHARS,
        limiter: RateLimiter | None = None,
    ) -> None:
        if not api_key:
            raise ConfigurationError("gemini embedder needs an API key (set JOBSIM_GEMINI_API_KEY)")
        model = model.removeprefix("models/")
        super().__init__(
            name=name or f"gemini:{model}",
            model=model,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            dims=dims if dims is not None else KNOWN_DIMS.get(model),
            max_batch=max_batch,
            max_input_chars=max_input_chars,
            limiter=limiter,
        )

    def _url(self) -> str:
        return f"{self.base_url}/models/{quote(self.model, safe='-._~')}:batchEmbedContents"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key or ""}

    def _body(self, texts: Sequence[str]) -> object:
        model = f"models/{self.model}"
        return {
            "requests": [
                {"model": model, "content": {"parts": [{"text": text}]}, "taskType": TASK_TYPE}
                for text in texts
            ]
        }

    def _vectors(self, payload: object, expected: int) -> object:
        embeddings = payload.get("embeddings") if isinstance(payload, dict) else None
        if not isinstance(embeddings, list):
            raise PermanentError("gemini embeddings response has no 'embeddings' list")
        if len(embeddings) != expected:
            raise PermanentError(
                f"gemini embeddings response has {len(embeddings)} vectors, expected {expected}"
            )
        if not all(isinstance(item, dict) and "values" in item for item in embeddings):
            raise PermanentError("gemini embeddings response item has no 'values'")
        return [item["values"] for item in embeddings]
