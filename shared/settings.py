"""One settings object for the whole stack, read from FIELDOPS_* environment variables.

Every default is the one `make run` uses; production overrides them through the environment. Secrets have no
default outside an explicit local mode (FIELDOPS_ENV=local or test): `fieldops run` makes its own per data folder.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.clocks import Clocks

DEV_SECRET = "fieldops-dev-secret-change-me-in-production"
# The secrets a development process may go without: FIELDOPS_ENV=local or test fills them in, any other mode refuses to
# start until each is set.
LOCAL_SECRETS = {
    "secret_key": DEV_SECRET,
    "s3_secret_key": "fieldops-dev-s3-secret",
    "internal_token": "fieldops-dev-internal-token",
}
LOCAL_MODES = ("local", "test")
SERVICES = ("intake", "routing", "invoicing", "notifications")


def _seconds_or_iso(value: object) -> object:
    # docs/api.md: a clock takes seconds ("90") or an ISO 8601 duration ("PT24H"); pydantic parses the latter.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIELDOPS_", extra="ignore")

    # Anything but an explicit local mode is production: no secret has a default there.
    env: Literal["local", "test", "production"] = "production"
    data_dir: Path = Path(".fieldops")
    # Signs tokens and portal sessions.
    secret_key: str | None = None
    # The service credential: every call to another service's /internal routes carries it.
    internal_token: str | None = None
    # Every token names who issued it and for whom; a token naming another issuer or audience is refused.
    token_issuer: str = "fieldops"
    token_audience: str = "fieldops-api"
    token_ttl: Duration = timedelta(hours=1)
    # A portal session lasts a working day from sign-in: the refresh token's lifetime. Access tokens stay short.
    session_ttl: Duration = timedelta(hours=10)

    # Every port of the local stack moves together by this offset, so a test stack can run beside `make run`.
    port_offset: int = 0
    host: str = "127.0.0.1"

    # Databases: SQLite files under data_dir unless a URL is given (one database per service).
    db_intake: str | None = None
    db_routing: str | None = None
    db_invoicing: str | None = None
    db_notifications: str | None = None

    # Where each service answers (containers name them); defaults to host and port of the local stack.
    intake_url: str | None = None
    routing_url: str | None = None
    invoicing_url: str | None = None
    notifications_url: str | None = None
    web_url: str | None = None
    # Where the portal calls the public API (the gateway); containers name it, the local stack derives it.
    portal_api_url: str | None = None

    temporal_address: str | None = None
    temporal_namespace: str = "default"
    # Where operators open a request's workflow in the Temporal UI (the portal links there); the local stack's.
    temporal_ui_url: str | None = None
    # host:port of the workflow worker's Prometheus /metrics (it has no HTTP API); default the local stack's port.
    worker_metrics_address: str | None = None

    s3_endpoint: str | None = None
    # The S3 address a browser reaches, when it is not the one the services use (containers: the services talk to
    # http://minio:9000, a browser on the host to http://localhost:9000). Only presigned URLs carry it.
    s3_public_endpoint: str | None = None
    s3_access_key: str = "fieldops"
    s3_secret_key: str | None = None
    s3_bucket: str = "fieldops-attachments"
    s3_region: str = "us-east-1"

    smtp_host: str = "127.0.0.1"
    smtp_port: int | None = None
    mail_from: str = "fieldops <no-reply@fieldops.local>"
    public_url: str | None = None

    # Customer invoices: the provider's lines marked up by this fraction.
    invoice_markup: float = 0.15

    accept_within_urgent: Duration = timedelta(hours=1)
    accept_within_high: Duration = timedelta(hours=4)
    accept_within_normal: Duration = timedelta(hours=24)
    accept_within_low: Duration = timedelta(hours=72)
    due_within_urgent: Duration = timedelta(hours=8)
    due_within_high: Duration = timedelta(hours=24)
    due_within_normal: Duration = timedelta(days=5)
    due_within_low: Duration = timedelta(days=10)
    recommendation_reminder_after: Duration = timedelta(hours=48)
    payment_run_every: Duration = timedelta(days=1)
    upload_sweep_every: Duration = timedelta(hours=1)
    upload_abandoned_after: Duration = timedelta(hours=24)

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        if self.env in LOCAL_MODES:
            for name, default in LOCAL_SECRETS.items():
                if not getattr(self, name):
                    setattr(self, name, default)
            return self
        unset = [
            f"FIELDOPS_{name.upper()}"
            for name, default in LOCAL_SECRETS.items()
            if getattr(self, name) in (None, "", default)
        ]
        if unset:
            raise ValueError(
                f"set {', '.join(unset)} to long random values (FIELDOPS_ENV={self.env}; only "
                f"FIELDOPS_ENV=local or test has development defaults)"
            )
        return self

    # --- derived addresses of the local stack -------------------------------------------------
    def port(self, base: int) -> int:
        return base + self.port_offset

    @property
    def gateway_port(self) -> int:
        return self.port(8000)

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    @property
    def api_url(self) -> str:
        return f"{self.gateway_url}/api/v1"

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"{self.host}:{self.port(7233)}"

    @property
    def temporal_ui_port(self) -> int:
        return self.port(8233)

    @property
    def temporal_ui(self) -> str:
        return (self.temporal_ui_url or f"http://{self.host}:{self.temporal_ui_port}").rstrip("/")

    def service_port(self, service: str) -> int:
        return self.port(8101 + (SERVICES + ("web",)).index(service))

    def service_url(self, service: str) -> str:
        return getattr(self, f"{service}_url") or f"http://{self.host}:{self.service_port(service)}"

    @property
    def s3_url(self) -> str:
        return self.s3_endpoint or f"http://{self.host}:{self.port(8333)}"

    @property
    def s3_public_url(self) -> str:
        return self.s3_public_endpoint or self.s3_url

    @property
    def smtp_port_effective(self) -> int:
        return self.smtp_port or self.port(8025)

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def portal_url(self) -> str:
        return self.public_url or self.gateway_url

    @property
    def portal_api_base(self) -> str:
        return self.portal_api_url or self.api_url

    @property
    def secure_cookies(self) -> bool:
        # `Secure` outside the local stack, which speaks plain HTTP on loopback.
        return self.env == "production" or self.portal_url.startswith("https://")

    def database_url(self, service: str) -> str:
        url = getattr(self, f"db_{service}")
        if url:
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'db' / f'{service}.db').resolve()}"

    def clocks(self) -> Clocks:
        return Clocks(
            accept_within={p: getattr(self, f"accept_within_{p}") for p in ("urgent", "high", "normal", "low")},
            due_within={p: getattr(self, f"due_within_{p}") for p in ("urgent", "high", "normal", "low")},
            recommendation_reminder_after=self.recommendation_reminder_after,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
