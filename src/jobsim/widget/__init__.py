"""The drop-in widget: /widget.js, a dependency-free script a job board includes with one
`<script>` tag, and the CORS policy that lets the board's pages read the similar lists."""

from __future__ import annotations

from jobsim.widget.cors import allowed_origins, install_cors
from jobsim.widget.script import router

__all__ = ["allowed_origins", "install_cors", "router"]
