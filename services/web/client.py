"""The portal's one way to the system: the public API, through the gateway, with the signed-in person's token.

One httpx client per process (connection pooling); each call says who it is for. Errors become three
exceptions the pages know how to show: `ApiError` (a 4xx with the API's own words), `SignInRequired` (the
token is no good any more) and `ServiceDown` (a part of the system does not answer)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from services.web.timing import count_api_call


class ApiError(Exception):
    """A 4xx from the API: its status and its `detail`, ready to show beside the field it concerns."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"{status}: {detail}")

    @property
    def message(self) -> str:
        """The API's words for people. Validation errors (a list) become one sentence per field."""
        if isinstance(self.detail, list):
            parts = []
            for item in self.detail:
                field = ".".join(str(x) for x in item.get("loc", [])[1:]) if isinstance(item, dict) else ""
                text = item.get("msg", str(item)) if isinstance(item, dict) else str(item)
                parts.append(f"{field.replace('_', ' ')}: {text}" if field else text)
            return "; ".join(parts)
        return str(self.detail)

    def field_errors(self) -> dict[str, str]:
        """Validation errors keyed by the field they concern (the last part of `loc`)."""
        errors: dict[str, str] = {}
        if isinstance(self.detail, list):
            for item in self.detail:
                if isinstance(item, dict) and item.get("loc"):
                    errors.setdefault(str(item["loc"][-1]), str(item.get("msg", "")).removeprefix("Value error, "))
        return errors


class SignInRequired(Exception):
    """No session, or the API answered 401: the person signs in again and comes back to `next`."""


class ServiceDown(Exception):
    """The gateway or a service behind it did not answer; the page says so instead of failing."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(what)


class ApiClient:
    def __init__(self, base_url: str, timeout: float = 20) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def send(self, method: str, path: str, token: str | None = None, **kw) -> httpx.Response:
        headers = dict(kw.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        try:
            response = await self.http.request(method, path, headers=headers, **kw)
        except httpx.TransportError as exc:
            raise ServiceDown(f"{method} {path}") from exc
        finally:
            count_api_call(started)
        if response.status_code == 401:
            raise SignInRequired()
        if response.status_code in (502, 503, 504) or response.status_code >= 500:
            raise ServiceDown(f"{method} {path} answered {response.status_code}")
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text or response.reason_phrase
            raise ApiError(response.status_code, detail)
        return response

    async def call(self, method: str, path: str, token: str | None = None, **kw) -> Any:
        response = await self.send(method, path, token, **kw)
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response
