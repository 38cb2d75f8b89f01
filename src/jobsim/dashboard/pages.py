"""GET /admin (the page) and GET /admin/static/{name} (its script and style sheet).

Neither needs the admin token: the page carries no data. Static files are a fixed list read
from the package, each with its own content type, so nothing else under the package is served.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from jobsim import __version__

router = APIRouter(prefix="/admin", include_in_schema=False)

_PACKAGE = resources.files("jobsim.dashboard")
templates = Jinja2Templates(directory=str(_PACKAGE / "templates"))

STATIC_TYPES = {
    "admin.js": "text/javascript; charset=utf-8",
    "admin.css": "text/css; charset=utf-8",
}

# The page loads only its own script and style sheet and talks only to this server.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@router.get("", response_class=HTMLResponse)
async def admin_page(request: Request) -> Response:
    response = templates.TemplateResponse(
        request,
        "admin.html",
        {"version": __version__, "static": f"{request.scope.get('root_path', '')}/admin/static"},
    )
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/static/{name}")
async def admin_static(name: str) -> Response:
    media_type = STATIC_TYPES.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no static file {name!r}")
    return Response(
        _static_bytes(name),
        headers={
            "Content-Type": media_type,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


@cache
def _static_bytes(name: str) -> bytes:
    return (_PACKAGE / "static" / name).read_bytes()
