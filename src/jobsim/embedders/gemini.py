"""Gemini embeddings over plain HTTP: POST {base_url}/models/{model}:batchEmbedContents."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from jobsim.embedders.http import HttpEmbedder, response_items
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

    default_base_url = GEMINI_BASE_URL
    default_max_batch = 100
    default_max_input_chars = GEMINI_MAX_INPUT_CHARS
    known_dims = KNOWN_DIMS

    def _check_api_key(self, api_key: str | None, base_url: str) -> None:
        if not api_key:
            raise ConfigurationError("gemini embedder needs an API key (set JOBSIM_GEMINI_API_KEY)")

    def _normalize_model(self, model: str) -> str:
        return model.removeprefix("models/")

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
        embeddings = response_items(payload, "embeddings", expected, self.provider)
        if not all(isinstance(item, dict) and "values" in item for item in embeddings):
            raise PermanentError("gemini embeddings response item has no 'values'")
        return [item["values"] for item in embeddings]
