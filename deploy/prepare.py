"""What a fresh deployment needs before the services start: migrations, the attachments bucket, and the
search attributes operators filter on. `fieldops prepare` (docker-compose runs it once)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

from shared.contracts.names import SEARCH_ATTRIBUTES
from shared.settings import SERVICES, Settings
from shared.temporal import connect

KINDS = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL}


def migrate_all() -> None:
    from shared.migrations import upgrade

    for service in SERVICES:
        upgrade(service)


def ensure_bucket(settings: Settings) -> None:
    from services.intake.storage import Storage

    Storage(settings).ensure_bucket()


async def register_search_attributes(settings: Settings) -> None:
    client = await connect(settings)
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=settings.temporal_namespace)
    )
    missing = {name: KINDS[kind] for name, kind in SEARCH_ATTRIBUTES.items() if name not in existing.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=settings.temporal_namespace, search_attributes=missing)
        )
