"""Alembic, one migration history per service: `upgrade(service)` is what `make run` and the tests call."""
from __future__ import annotations

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
    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(config(service, url), "head")


def run_env(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url")
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
