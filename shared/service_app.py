"""What every service process is: a FastAPI app whose lifespan opens its database and Temporal client and
runs its activity worker on its own task queue, in the same process."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.worker import Worker

from shared.db import Database
from shared.settings import Settings, get_settings
from shared.temporal import connect

log = logging.getLogger("fieldops")


class ServiceState:
    def __init__(self, service: str, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.db = Database(settings.database_url(service))
        self.temporal: Client | None = None


def create_app(service: str, routers: Sequence[APIRouter],
               activities: Callable[[ServiceState], list[Callable[..., Any]]]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServiceState(service, get_settings())
        state.temporal = await connect(state.settings)
        app.state.svc = state
        worker = Worker(state.temporal, task_queue=service, activities=activities(state),
                        graceful_shutdown_timeout=timedelta(seconds=5), max_concurrent_activities=50)
        task = asyncio.create_task(worker.run(), name=f"{service}-activity-worker")
        try:
            yield
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)
            await state.db.dispose()

    app = FastAPI(title=f"fieldops {service}", lifespan=lifespan, docs_url=f"/api/v1/{service}/docs",
                  openapi_url=f"/api/v1/{service}/openapi.json")
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    return app


def get_state(request: Request) -> ServiceState:
    return request.app.state.svc


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.svc.db.sessions() as session:
        yield session


def get_temporal(request: Request) -> Client:
    return request.app.state.svc.temporal


StateDep = Annotated[ServiceState, Depends(get_state)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
