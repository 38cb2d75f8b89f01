"""OpenAI-compatible embeddings over plain HTTP (api.openai.com, vLLM, Ollama, LiteLLM...)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from jobsim.embedders.http import HttpEmbedder, response_items
from jobsim.errors import ConfigurationError, PermanentError

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_HOST = "api.openai.com"
KNOWN_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# OpenAI's embedding models accept 8191 tokens; 3 chars/token keeps us safely below that.
OPENAI_MAX_INPUT_CHARS = 24_000
# Self-hosted servers often run with a 2048-token context.
DEFAULT_MAX_INPUT_CHARS = 6_000


def is_official_openai(base_url: str) -> bool:
    try:
        return httpx.URL(base_url).host == OPENAI_HOST
    except httpx.InvalidURL:
        return False


class OpenAIEmbedder(HttpEmbedder):
    """POST {base_url}/embeddings with {"model", "input": [...]}; the key is optional off OpenAI."""

    provider = "openai"

    default_base_url = OPENAI_BASE_URL
    default_max_batch = 128
    known_dims = KNOWN_DIMS

    def _check_api_key(self, api_key: str | None, base_url: str) -> None:
        if is_official_openai(base_url) and not api_key:
            raise ConfigurationError(
                "openai embedder needs an API key (set JOBSIM_OPENAI_API_KEY); a key is only "
                "optional for a custom JOBSIM_OPENAI_BASE_URL such as vLLM or Ollama"
            )

    def _default_max_input_chars(self, model: str) -> int:
        return OPENAI_MAX_INPUT_CHARS if model in self.known_dims else DEFAULT_MAX_INPUT_CHARS

    def _url(self) -> str:
        return f"{self.base_url}/embeddings"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _body(self, texts: Sequence[str]) -> object:
        return {"model": self.model, "input": list(texts), "encoding_format": "float"}

    def _vectors(self, payload: object, expected: int) -> object:
        data = response_items(payload, "data", expected, self.provider)
        by_index: dict[int, object] = {}
        for item in data:
            if not isinstance(item, dict) or "embedding" not in item:
                raise PermanentError("openai embeddings response item has no 'embedding'")
            index = item.get("index")
            if not isinstance(index, int) or not 0 <= index < expected or index in by_index:
                raise PermanentError("openai embeddings response has a missing or bad 'index'")
            by_index[index] = item["embedding"]
        return [by_index[i] for i in range(expected)]
