"""Test doubles shipped with jobsim, for tests and demos without a model or a real clock:
FakeEmbedder (a deterministic hashed bag of words, never a judge of quality) and ManualClock."""

from __future__ import annotations

from jobsim.clock import ManualClock
from jobsim.embedders.fake import FakeEmbedder

__all__ = ["FakeEmbedder", "ManualClock"]
