"""The composition root: the ASGI application around one process's services."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kefu import __version__
from kefu.config import Settings
from kefu.core.db import WalCheckpointer
from kefu.services import Services, build_services
from kefu.web import errors as web_errors
from kefu.web.routes import UPLOAD_LIMITS, UPLOAD_SLACK, include_routes

__all__ = ["Services", "build_services", "create_app"]


def _warm_knowledge(svc: Services) -> None:
    from sqlalchemy import select

    from kefu.accounts.models import Workspace

    try:
        with svc.uows(readonly=True) as uow:
            ids = list(uow.session.scalars(select(Workspace.id)))
        svc.kb.warm(ids)
    except Exception:
        logging.getLogger("kefu").exception("building the knowledge indexes failed")


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else Settings())
    svc = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.hub.bind_loop(asyncio.get_running_loop())
        started = False
        if settings.embedded_worker and not svc.jobs.inline:
            svc.runner.start()
            started = True
        if not svc.jobs.inline:
            # build every workspace's knowledge index now, off the event loop, so the first
            # customer does not wait for it (a workspace asked for earlier is built on demand)
            threading.Thread(target=_warm_knowledge, args=(svc,), name="kefu-kb-warm",
                             daemon=True).start()
        checkpointer = None
        if svc.engine.dialect.name == "sqlite" and not svc.jobs.inline:
            checkpointer = WalCheckpointer(svc.engine)
            checkpointer.start()
        # Everything allocated while starting lives as long as the process: move it out of the
        # collector's sight, so full collections under load stay short (~100 ms otherwise).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if started:
                svc.runner.stop()
            if checkpointer is not None:
                checkpointer.stop()

    app = FastAPI(
        title="kefu API",
        version=__version__,
        description="kefu 智能客服平台 REST API. Errors always have the shape "
                    '`{"error": {"code", "message", "details"}}`.',
        lifespan=lifespan,
        docs_url=None,  # our own offline /docs page (Swagger UI would load from a CDN)
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.services = svc
    web_errors.install(app, max_body_bytes=settings.max_body_bytes, uploads=UPLOAD_LIMITS,
                       upload_slack=UPLOAD_SLACK)
    include_routes(app)
    return app
