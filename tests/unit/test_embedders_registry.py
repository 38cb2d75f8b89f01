from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import jobsim
from jobsim.embedders.gemini import GeminiEmbedder
from jobsim.embedders.local import LocalEmbedder
from jobsim.embedders.openai import OpenAIEmbedder
from jobsim.embedders.registry import create_embedder
from jobsim.errors import ConfigurationError
from jobsim.settings import DEFAULT_OLLAMA_BASE_URL, Settings
from jobsim.testing import FakeEmbedder


def settings(**overrides: Any) -> Settings:
    """Settings with every provider field explicit, so the environment cannot leak in."""
    values: dict[str, Any] = {
        "openai_api_key": None,
        "openai_base_url": "https://api.openai.com/v1",
        "gemini_api_key": None,
        "gemini_base_url": "https://generativelanguage.googleapis.com/v1beta",
        "embedder_timeout_seconds": 30.0,
        "embedder_requests_per_minute": 0,
        "embedder_tokens_per_minute": 0,
    }
    values.update(overrides)
    return Settings(**values)


def test_a_fake_spec_returns_a_fake_embedder_with_those_dims_and_the_spec_as_name() -> None:
    embedder = create_embedder("fake:32", settings())
    assert isinstance(embedder, FakeEmbedder)
    assert embedder.dims == 32
    assert embedder.name == "fake:32"


@pytest.mark.parametrize(
    "spec", ["", "   ", "local", "nope:model", "sentence-transformers:x", ":model", "bert"]
)
def test_an_unknown_prefix_is_a_configuration_error_that_lists_the_valid_ones(spec: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_embedder(spec, settings())
    for prefix in ("local:", "openai:", "ollama:", "gemini:", "fake:"):
        assert prefix in str(caught.value)


@pytest.mark.parametrize("spec", ["local:", "openai:", "ollama:  ", "gemini:", "fake:"])
def test_a_spec_without_a_model_is_a_configuration_error(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="names no model"):
        create_embedder(spec, settings())


@pytest.mark.parametrize("spec", ["fake:abc", "fake:0", "fake:-4"])
def test_a_fake_spec_needs_a_positive_integer(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="positive integer"):
        create_embedder(spec, settings())


def test_importing_the_registry_does_not_import_torch_or_sentence_transformers() -> None:
    code = (
        "import sys, jobsim.embedders.registry\n"
        "heavy = {'torch', 'sentence_transformers', 'transformers'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    src = str(Path(jobsim.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_a_local_spec_builds_a_local_embedder_without_loading_the_model() -> None:
    embedder = create_embedder("local:all-MiniLM-L6-v2", settings())
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.name == "local:all-MiniLM-L6-v2"
    assert embedder.model_name == "all-MiniLM-L6-v2"
    assert embedder._model is None


def test_a_local_spec_with_an_absolute_path_keeps_the_whole_path(tmp_path: Path) -> None:
    embedder = create_embedder(f"local:{tmp_path}", settings())
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.model_name == str(tmp_path)


def test_openai_on_the_official_url_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="JOBSIM_OPENAI_API_KEY"):
        create_embedder("openai:text-embedding-3-small", settings())


def test_openai_on_a_custom_base_url_needs_no_key() -> None:
    embedder = create_embedder(
        "openai:bge-m3", settings(openai_base_url="http://vllm.internal:8000/v1")
    )
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.base_url == "http://vllm.internal:8000/v1"


def test_openai_takes_key_timeout_and_known_dims_from_settings() -> None:
    embedder = create_embedder(
        "openai:text-embedding-3-small",
        settings(openai_api_key="sk-abc", embedder_timeout_seconds=4.5),
    )
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.dims == 1536
    assert embedder.name == "openai:text-embedding-3-small"
    assert embedder.max_batch == 128
    assert embedder._client.timeout.read == 4.5


def test_rate_limits_from_settings_reach_the_limiter() -> None:
    embedder = create_embedder(
        "openai:text-embedding-3-small",
        settings(
            openai_api_key="sk-abc",
            embedder_requests_per_minute=500,
            embedder_tokens_per_minute=100_000,
        ),
    )
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.limiter.requests_per_minute == 500
    assert embedder.limiter.tokens_per_minute == 100_000


def test_an_ollama_spec_defaults_to_the_local_ollama_url_and_no_key() -> None:
    embedder = create_embedder("ollama:nomic-embed-text", settings(openai_api_key="sk-abc"))
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.base_url == DEFAULT_OLLAMA_BASE_URL
    assert embedder._headers() == {}


def test_gemini_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="JOBSIM_GEMINI_API_KEY"):
        create_embedder("gemini:text-embedding-004", settings())


def test_gemini_with_a_key_knows_text_embedding_004_has_768_dims() -> None:
    embedder = create_embedder("gemini:text-embedding-004", settings(gemini_api_key="AIza-k"))
    assert isinstance(embedder, GeminiEmbedder)
    assert embedder.dims == 768
    assert embedder.max_batch == 100


def test_a_base_url_that_is_not_http_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="http"):
        create_embedder("openai:m", settings(openai_base_url="file:///etc/passwd"))
