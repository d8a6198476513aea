"""The FastAPI application: pages, the API, static assets and error handling."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from rigfit.errors import RigfitError
from rigfit.web import api, pages
from rigfit.web.errors import ErrorEnvelope, envelope, from_rigfit, from_validation

__all__ = ["create_app"]

STATIC_DIR = Path(__file__).parent / "static"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


def _send(request: Request, env: ErrorEnvelope, headers: dict[str, str] | None = None) -> Response:
    if _is_api(request):
        resp: Response = JSONResponse(env.model_dump(), status_code=env.error.status)
    else:
        resp = pages.error_page(request, env)
    resp.headers.update(headers or {})
    return resp


def create_app() -> FastAPI:
    app = FastAPI(
        title="rigfit",
        version=version("rigfit"),
        summary="Will this open-weight LLM fit on these GPUs, and why? Exact, sourced estimates.",
        # /api/docs is rigfit's own page (web/pages.py), drawn from /openapi.json: FastAPI's
        # Swagger UI loads its scripts from a CDN and is blank offline
        docs_url=None,
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.exception_handler(api.NotFoundError)
    async def _not_found(request: Request, exc: api.NotFoundError) -> Response:
        return _send(request, from_rigfit(exc.error, not_found=True))

    @app.exception_handler(RigfitError)
    async def _rigfit(request: Request, exc: RigfitError) -> Response:
        return _send(request, from_rigfit(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return _send(request, from_validation(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404:
            detail = f"no such page: {request.url.path[:100]} (the API lives under /api/v1)"
        return _send(request, envelope(exc.status_code, kind, detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:  # pragma: no cover
        return _send(
            request, envelope(500, "internal_error", f"internal error: {type(exc).__name__}")
        )

    return app
