"""GET /widget.js: the widget's script, with the configured link template embedded.

The static file carries a placeholder object; the served script has the settings the widget
needs (JOBSIM_WIDGET_LINK_TEMPLATE) in its place, as JSON. Browsers may cache it for a few
minutes and revalidate it cheaply with its ETag, so a changed setting reaches boards soon.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

from jobsim.settings import Settings

router = APIRouter(include_in_schema=False)

PLACEHOLDER = "/*jobsim:server-config*/ {}"
MEDIA_TYPE = "text/javascript; charset=utf-8"
CACHE_CONTROL = "public, max-age=600"


@router.api_route("/widget.js", methods=["GET", "HEAD"])
async def widget_script(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    body, etag = served_script(settings.widget_link_template)
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        # Boards that isolate their pages (Cross-Origin-Embedder-Policy) may still load it.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if _etags(request.headers.get("if-none-match", "")) & {etag, "*"}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


@cache
def served_script(link_template: str) -> tuple[bytes, str]:
    """The script with `link_template` embedded, and its ETag."""
    source = resources.files("jobsim.widget").joinpath("static", "widget.js").read_text("utf-8")
    if source.count(PLACEHOLDER) != 1:
        raise RuntimeError(f"widget.js must hold {PLACEHOLDER!r} exactly once")
    config = json.dumps({"linkTemplate": link_template}).replace("<", "\\u003c")
    body = source.replace(PLACEHOLDER, config).encode("utf-8")
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}
