"""jobsim: a self-hosted semantic "similar jobs" engine."""

from __future__ import annotations

__version__ = "0.1.0"
