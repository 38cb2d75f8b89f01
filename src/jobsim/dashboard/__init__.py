"""The admin dashboard at /admin: one server-rendered page and its static files.

The page holds only the UI; every number it shows comes from the token-protected admin API
(/api/admin/...), which the page's JavaScript calls with the token the operator types in.
"""

from __future__ import annotations

from jobsim.dashboard.pages import router

__all__ = ["router"]
