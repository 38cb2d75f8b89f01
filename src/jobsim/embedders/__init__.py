"""Embedding providers behind one interface; see base.Embedder and registry.create_embedder."""
