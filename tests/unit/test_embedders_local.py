from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jobsim.embedders.local import LocalEmbedder, bundled_model_path
from jobsim.embedders.registry import create_embedder
from jobsim.errors import PermanentError
from jobsim.settings import Settings

TINY_VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "python",
    "developer",
    "backend",
    "engineer",
    "truck",
    "driver",
]


def test_the_default_model_names_resolve_to_the_bundled_weights_as_a_string() -> None:
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        path = bundled_model_path(name)
        assert isinstance(path, str)
        assert (Path(path) / "modules.json").is_file()


def test_other_model_names_are_not_bundled() -> None:
    assert bundled_model_path("all-mpnet-base-v2") is None
    assert bundled_model_path("/models/all-MiniLM-L6-v2") is None


def test_creating_a_local_embedder_does_not_load_the_model() -> None:
    embedder = LocalEmbedder("does-not-matter")
    assert embedder._model is None
    assert embedder.name == "local:does-not-matter"


@pytest.mark.slow
def test_the_default_local_model_loads_offline_and_puts_python_jobs_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = create_embedder("local:all-MiniLM-L6-v2", Settings())
    embedder.check()
    vectors = embedder.embed(["senior python developer", "python backend engineer", "truck driver"])
    assert embedder.dims == 384
    assert embedder.max_input_chars == 256 * 4
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    developer, engineer, driver = vectors
    assert developer @ engineer > developer @ driver


@pytest.mark.slow
def test_a_model_directory_on_disk_loads_through_the_generic_path(tmp_path: Path) -> None:
    model_dir = build_tiny_sentence_transformer(tmp_path)
    embedder = create_embedder(f"local:{model_dir}", Settings())
    embedder.check()
    vectors = embedder.embed(["python developer", "truck driver", "python developer"])
    assert embedder.name == f"local:{model_dir}"
    assert embedder.dims == 16
    assert embedder.max_input_chars == 32 * 4
    assert vectors.shape == (3, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2], atol=1e-6)
    assert embedder.embed([]).shape == (0, 16)


@pytest.mark.slow
def test_check_raises_permanent_error_when_the_model_cannot_be_loaded(tmp_path: Path) -> None:
    embedder = LocalEmbedder(str(tmp_path / "no-such-model"))
    with pytest.raises(PermanentError, match="cannot load local model"):
        embedder.check()


def build_tiny_sentence_transformer(root: Path) -> Path:
    """A 1-layer BERT with an 11-word vocabulary plus mean pooling, saved like any ST model."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    hf_dir = root / "hf"
    hf_dir.mkdir()
    vocab = hf_dir / "vocab.txt"
    vocab.write_text("\n".join(TINY_VOCAB) + "\n")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(TINY_VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(hf_dir)
    BertTokenizer(str(vocab)).save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=32)
    pooling = Pooling(transformer.get_embedding_dimension())
    model_dir = root / "sentence-model"
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(model_dir))
    return model_dir
