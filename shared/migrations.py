"""Alembic, one migration history per service: `upgrade(service)` is what `make run` and the tests call."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool

from shared.db import sync_url
from shared.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent


def config(service: str, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", sync_url(url or get_settings().database_url(service)))
    return cfg


def upgrade(service: str, url: str | None = None) -> None:
    url = url or get_settings().database_url(service)
    path = Path(url.split("///", 1)[1]) if url.startswith("sqlite") else None
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The file is born in WAL mode, before any service connects, so no connection ever has to switch it.
        with closing(sqlite3.connect(path)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    command.upgrade(config(service, url), "head")


def run_env(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("the migrations' configuration has no sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
