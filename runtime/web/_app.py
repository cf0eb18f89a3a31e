"""The Starlette application: the page, its JSON, and /metrics.

Routes: ``/`` (the page), ``/api/state`` (what the page shows, as JSON), ``/metrics``
(Prometheus text format), ``/healthz``. With a token, every request must carry it, as
``Authorization: Bearer TOKEN`` or ``?token=TOKEN`` (the page passes it on).
"""

from __future__ import annotations

import hmac
from importlib import resources

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from runtime._system import ActorSystem
from runtime.web._metrics import SystemCollector
from runtime.web._state import cluster_state

__all__ = ("create_app",)


def _page() -> str:
    return resources.files("runtime.web").joinpath("static/index.html").read_text("utf-8")


class _TokenRequired(BaseHTTPMiddleware):
    def __init__(self, app: object, token: str) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.token = token.encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = request.query_params.get("token", "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        if not hmac.compare_digest(given.encode(), self.token):
            return PlainTextResponse(
                "401: this web view needs its token: add ?token=TOKEN to the address, or "
                "send 'Authorization: Bearer TOKEN'\n", status_code=401,
            )
        return await call_next(request)


def create_app(system: ActorSystem, *, token: str | None = None) -> Starlette:
    """The web view of `system` as an ASGI app (serve it with `runtime.web.serve`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SystemCollector(system))
    ProcessCollector(registry=registry)
    page = _page()

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def state(request: Request) -> Response:
        return JSONResponse(await cluster_state(system), headers={"Cache-Control": "no-store"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse(f"ok {system.address}\n")

    middleware = [Middleware(_TokenRequired, token=token)] if token else []
    return Starlette(routes=[
        Route("/", index), Route("/api/state", state), Route("/metrics", metrics),
        Route("/healthz", healthz),
    ], middleware=middleware)
