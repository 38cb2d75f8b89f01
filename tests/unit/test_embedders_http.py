from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import numpy as np
import pytest

from jobsim.embedders.gemini import GeminiEmbedder
from jobsim.embedders.http import MAX_DETAIL_CHARS, parse_retry_after, sanitize
from jobsim.embedders.limiter import RateLimiter
from jobsim.embedders.openai import OpenAIEmbedder
from jobsim.embedders.registry import create_embedder
from jobsim.errors import ConfigurationError, PermanentError, RateLimited, TransientError
from jobsim.settings import Settings
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer
from tests.support.fake_clock import FakeClock
from tests.support.fake_providers import (
    FakeProviderServer,
    Fault,
    delay,
    echo_key_error,
    fake_gemini_fixture,  # noqa: F401
    fake_openai_fixture,  # noqa: F401
    http_error,
    malformed_body,
    missing_field,
    nan_values,
    rate_limited,
    vector_for,
    wrong_count,
    wrong_dims,
    zero_vector,
)

OPENAI_KEY = "sk-test-0123456789abcdefSECRET"
GEMINI_KEY = "AIzaTest0123456789abcdefghijSECRET"


def unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return array / np.linalg.norm(array)


@pytest.fixture
def openai(fake_openai: FakeProviderServer) -> Iterator[OpenAIEmbedder]:
    embedder = OpenAIEmbedder(
        "test-embed", api_key=OPENAI_KEY, base_url=fake_openai.openai_base_url, timeout=5
    )
    yield embedder
    embedder.close()


@pytest.fixture
def gemini(fake_gemini: FakeProviderServer) -> Iterator[GeminiEmbedder]:
    embedder = GeminiEmbedder(
        "text-embedding-004",
        api_key=GEMINI_KEY,
        base_url=fake_gemini.gemini_base_url,
        dims=8,
        timeout=5,
    )
    yield embedder
    embedder.close()


# --- OpenAI wire format -------------------------------------------------------------------


def test_openai_sends_model_input_and_float_encoding_to_the_embeddings_path(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    openai.embed(["python developer", "truck driver"])
    [request] = fake_openai.requests
    assert request.path == "/v1/embeddings"
    assert request.body == {
        "model": "test-embed",
        "input": ["python developer", "truck driver"],
        "encoding_format": "float",
    }


def test_openai_returns_unit_float32_rows_matching_the_servers_vectors(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    vectors = openai.embed(["a", "b", "c"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, fake_openai.dims)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.allclose(vectors[1], unit(vector_for("b", fake_openai.dims)), atol=1e-6)


def test_150_texts_with_max_batch_64_are_sent_as_exactly_3_requests_in_input_order(
    fake_openai: FakeProviderServer,
) -> None:
    fake_openai.shuffle = True
    embedder = OpenAIEmbedder("m", base_url=fake_openai.openai_base_url, max_batch=64)
    texts = [f"posting number {i}" for i in range(150)]
    vectors = embedder.embed(texts)
    assert [len(r.body["input"]) for r in fake_openai.requests] == [64, 64, 22]
    expected = np.stack([unit(vector_for(t, fake_openai.dims)) for t in texts])
    assert np.allclose(vectors, expected, atol=1e-6)


def test_vectors_follow_index_even_when_the_server_shuffles_the_data_items(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    fake_openai.shuffle = True
    texts = [f"text {i}" for i in range(10)]
    vectors = openai.embed(texts)
    for row, text in zip(vectors, texts, strict=True):
        assert np.allclose(row, unit(vector_for(text, fake_openai.dims)), atol=1e-6)


def test_building_a_vectorizer_sends_nothing_the_worker_start_up_check_is_the_first_request(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    PostingVectorizer(openai, VectorRecipe.from_settings(Settings()))
    assert fake_openai.requests == []  # a provider that is down must not fail the constructor
    openai.check()
    assert len(fake_openai.requests) == 1


def test_an_empty_input_makes_no_request(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    openai.dims = fake_openai.dims
    assert openai.embed([]).shape == (0, fake_openai.dims)
    assert fake_openai.requests == []


def test_the_bearer_key_is_sent_in_the_authorization_header(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    openai.embed(["x"])
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_a_custom_base_url_without_a_key_sends_no_authorization_header(
    fake_openai: FakeProviderServer,
) -> None:
    OpenAIEmbedder("m", base_url=fake_openai.openai_base_url).embed(["x"])
    assert "authorization" not in fake_openai.requests[0].headers


def test_the_official_openai_url_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="API key"):
        OpenAIEmbedder("text-embedding-3-small", api_key=None)


def test_known_openai_models_know_their_dims_without_a_request() -> None:
    assert OpenAIEmbedder("text-embedding-3-small", api_key="k").dims == 1536
    assert OpenAIEmbedder("text-embedding-3-large", api_key="k").dims == 3072
    assert OpenAIEmbedder("text-embedding-ada-002", api_key="k").dims == 1536


def test_check_discovers_the_dims_of_an_unknown_model_with_one_request(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    openai.check()
    assert len(fake_openai.requests) == 1
    assert len(fake_openai.requests[0].body["input"]) == 1
    assert openai.dims == fake_openai.dims
    assert len(fake_openai.requests) == 1


def test_reading_dims_of_an_unknown_model_before_check_discovers_them(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    assert openai.dims == fake_openai.dims
    assert len(fake_openai.requests) == 1


def test_a_response_with_other_dims_than_the_known_ones_raises_permanent_error(
    fake_openai: FakeProviderServer,
) -> None:
    embedder = OpenAIEmbedder("m", base_url=fake_openai.openai_base_url, dims=16)
    with pytest.raises(PermanentError, match="dimensions"):
        embedder.embed(["x"])


# --- Error classification -------------------------------------------------------------------


def test_a_429_with_retry_after_raises_rate_limited_with_that_delay(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    fake_openai.script(rate_limited("7"))
    with pytest.raises(RateLimited) as caught:
        openai.embed(["x"])
    assert caught.value.retry_after == 7.0


def test_a_429_with_an_http_date_retry_after_is_turned_into_seconds(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    fake_openai.script(rate_limited(format_datetime(when, usegmt=True)))
    with pytest.raises(RateLimited) as caught:
        openai.embed(["x"])
    assert caught.value.retry_after is not None
    assert 25.0 <= caught.value.retry_after <= 31.0


def test_a_429_without_retry_after_raises_rate_limited_with_no_delay(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    fake_openai.script(rate_limited(None))
    with pytest.raises(RateLimited) as caught:
        openai.embed(["x"])
    assert caught.value.retry_after is None


def test_a_429_pauses_the_limiter_so_the_next_call_waits_for_retry_after(
    fake_openai: FakeProviderServer,
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    embedder = OpenAIEmbedder("m", base_url=fake_openai.openai_base_url, limiter=limiter)
    fake_openai.script(rate_limited("12"))
    with pytest.raises(RateLimited):
        embedder.embed(["x"])
    assert limiter.pause_remaining() == pytest.approx(12.0)
    embedder.embed(["x"])
    assert clock.sleeps == [pytest.approx(12.0)]
    assert len(fake_openai.requests) == 2


def test_the_limiter_spaces_out_the_chunks_of_one_embed_call(
    fake_openai: FakeProviderServer,
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=2, clock=clock, sleep=clock.sleep)
    embedder = OpenAIEmbedder(
        "m", base_url=fake_openai.openai_base_url, max_batch=1, limiter=limiter
    )
    embedder.embed(["a", "b", "c"])
    assert clock.sleeps == [pytest.approx(60.0)]


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_a_408_or_5xx_raises_transient_error(
    status: int, openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    fake_openai.script(http_error(status, "upstream overloaded"))
    with pytest.raises(TransientError) as caught:
        openai.embed(["x"])
    assert not isinstance(caught.value, RateLimited)
    assert f"HTTP {status}" in str(caught.value)
    assert "upstream overloaded" in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_a_4xx_other_than_408_and_429_raises_permanent_error(
    status: int, openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    fake_openai.script(http_error(status, "request rejected"))
    with pytest.raises(PermanentError, match=f"HTTP {status}: request rejected"):
        openai.embed(["x"])


def test_the_next_request_succeeds_once_the_scripted_faults_are_used_up(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    fake_openai.script(http_error(500), times=2)
    for _ in range(2):
        with pytest.raises(TransientError):
            openai.embed(["x"])
    assert openai.embed(["x"]).shape == (1, fake_openai.dims)


def test_the_api_key_never_appears_in_an_error_even_when_the_server_echoes_it(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    fake_openai.script(echo_key_error(401))
    with pytest.raises(PermanentError) as caught:
        openai.embed(["x"])
    message = str(caught.value)
    assert "Incorrect API key provided" in message
    assert OPENAI_KEY not in message
    assert OPENAI_KEY not in repr(caught.value)
    assert OPENAI_KEY not in repr(openai)


def test_the_providers_error_message_is_cut_to_about_200_characters(
    openai: OpenAIEmbedder, fake_openai: FakeProviderServer
) -> None:
    fake_openai.script(http_error(400, "bad input " + "x" * 5000))
    with pytest.raises(PermanentError) as caught:
        openai.embed(["x"])
    assert len(str(caught.value)) < MAX_DETAIL_CHARS + 80


def test_a_response_slower_than_the_timeout_raises_transient_error(
    fake_openai: FakeProviderServer,
) -> None:
    embedder = OpenAIEmbedder("m", base_url=fake_openai.openai_base_url, timeout=0.2)
    fake_openai.script(delay(5))
    with pytest.raises(TransientError, match="timed out"):
        embedder.embed(["x"])


def test_an_unreachable_server_raises_transient_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    embedder = OpenAIEmbedder("m", base_url=f"http://127.0.0.1:{port}/v1", timeout=2)
    with pytest.raises(TransientError):
        embedder.embed(["x"])


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (malformed_body(), "not JSON"),
        (missing_field(), "no 'data'"),
        (wrong_count(), "1 vectors, expected 2"),
        (wrong_dims(3), "3 dimensions, expected 8"),
        (nan_values(), "NaN"),
        (zero_vector(), "all-zero"),
    ],
    ids=["malformed", "missing-field", "wrong-count", "wrong-dims", "nan", "zero-vector"],
)
def test_a_bad_success_body_raises_permanent_error(
    fault: Fault, reason: str, fake_openai: FakeProviderServer
) -> None:
    embedder = OpenAIEmbedder("m", base_url=fake_openai.openai_base_url, dims=fake_openai.dims)
    fake_openai.script(fault)
    with pytest.raises(PermanentError, match=reason):
        embedder.embed(["first", "second"])


def test_a_non_http_base_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="http"):
        OpenAIEmbedder("m", base_url="ftp://example.com/v1")


# --- Gemini wire format ---------------------------------------------------------------------


def test_gemini_request_has_the_documented_path_header_and_body(
    gemini: GeminiEmbedder, fake_gemini: FakeProviderServer
) -> None:
    gemini.embed(["python developer", "truck driver"])
    [request] = fake_gemini.requests
    assert request.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert request.headers["x-goog-api-key"] == GEMINI_KEY
    assert "authorization" not in request.headers
    assert request.body == {
        "requests": [
            {
                "model": "models/text-embedding-004",
                "content": {"parts": [{"text": text}]},
                "taskType": "SEMANTIC_SIMILARITY",
            }
            for text in ["python developer", "truck driver"]
        ]
    }


def test_gemini_returns_unit_rows_in_input_order(
    gemini: GeminiEmbedder, fake_gemini: FakeProviderServer
) -> None:
    texts = ["one", "two", "three"]
    vectors = gemini.embed(texts)
    expected = np.stack([unit(vector_for(t, fake_gemini.dims)) for t in texts])
    assert np.allclose(vectors, expected, atol=1e-6)


def test_gemini_batches_at_most_100_texts_per_request(
    gemini: GeminiEmbedder, fake_gemini: FakeProviderServer
) -> None:
    gemini.embed([f"t{i}" for i in range(250)])
    assert [len(r.body["requests"]) for r in fake_gemini.requests] == [100, 100, 50]


def test_gemini_known_models_have_their_dims() -> None:
    assert GeminiEmbedder("text-embedding-004", api_key="k").dims == 768
    assert GeminiEmbedder("models/gemini-embedding-001", api_key="k").dims == 3072


def test_gemini_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="API key"):
        GeminiEmbedder("text-embedding-004", api_key=None)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (rate_limited("3"), RateLimited),
        (http_error(503), TransientError),
        (http_error(400), PermanentError),
        (http_error(403), PermanentError),
        (wrong_count(), PermanentError),
        (missing_field(), PermanentError),
        (nan_values(), PermanentError),
    ],
    ids=["429", "503", "400", "403", "wrong-count", "missing-field", "nan"],
)
def test_gemini_errors_are_classified_like_openai_errors(
    fault: Fault,
    error: type[Exception],
    gemini: GeminiEmbedder,
    fake_gemini: FakeProviderServer,
) -> None:
    fake_gemini.script(fault)
    with pytest.raises(error):
        gemini.embed(["a", "b"])


def test_gemini_key_is_redacted_when_the_server_echoes_it(
    gemini: GeminiEmbedder, fake_gemini: FakeProviderServer
) -> None:
    fake_gemini.script(echo_key_error(400))
    with pytest.raises(PermanentError) as caught:
        gemini.embed(["x"])
    assert GEMINI_KEY not in str(caught.value)
    assert "[redacted]" in str(caught.value)


# --- Ollama through the registry ------------------------------------------------------------


def test_an_ollama_spec_posts_to_the_ollama_base_url_without_auth(
    fake_openai: FakeProviderServer,
) -> None:
    settings = Settings(ollama_base_url=fake_openai.openai_base_url, openai_api_key=OPENAI_KEY)
    embedder = create_embedder("ollama:nomic-embed-text", settings)
    vectors = embedder.embed(["hello"])
    [request] = fake_openai.requests
    assert request.path == "/v1/embeddings"
    assert request.body["model"] == "nomic-embed-text"
    assert "authorization" not in request.headers
    assert embedder.name == "ollama:nomic-embed-text"
    assert vectors.shape == (1, fake_openai.dims)


# --- Pure helpers -----------------------------------------------------------------------------


def test_parse_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Tue, 01 Jan 2030 12:00:42 GMT", now=now) == 42.0
    assert parse_retry_after("Tue, 01 Jan 2030 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3") == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf"])
def test_parse_retry_after_returns_none_for_unusable_values(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_sanitize_redacts_secrets_and_key_shaped_tokens_and_truncates() -> None:
    text = (
        "key my-secret-value and sk-abcdefghijklmnop and AIzaSyA0123456789abcdefghijk " + "y" * 500
    )
    cleaned = sanitize(text, ["my-secret-value"])
    assert "my-secret-value" not in cleaned
    assert "sk-abcdefghijklmnop" not in cleaned
    assert "AIzaSyA0123456789abcdefghijk" not in cleaned
    assert len(cleaned) <= MAX_DETAIL_CHARS + 1
