"""Customers with their dashboard counts, sites, and assets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import or_, select

from services.intake import views
from services.intake.models import Asset, Customer, ServiceRequest, Site
from services.intake.schemas import (
    AssetDetail,
    AssetIn,
    AssetOut,
    AssetPage,
    AssetRequestOut,
    Counts,
    CustomerIn,
    CustomerOut,
    CustomerPage,
    SiteIn,
    SiteOut,
    SitePage,
)
from services.intake.service import bucket_counts, idempotency, like_pattern, scope
from shared.auth import CurrentUser, Principal, need
from shared.contracts.enums import Role
from shared.http import Cursor, Id, Limit, errors, id_page
from shared.idempotency import IdempotencyKey
from shared.service_app import SessionDep

router = APIRouter(prefix="/api/v1")
OPERATORS = (Role.dispatcher, Role.admin)


def may_see_customer(user: Principal, customer_id: int) -> bool:
    if user.role in (Role.dispatcher, Role.admin, Role.accounts_receivable):
        return True
    return user.role == Role.customer and user.customer_id == customer_id


@router.post("/customers", status_code=201, response_model=CustomerOut, tags=["customers"], responses=errors(403))
async def create_customer(body: CustomerIn, user: CurrentUser, db: SessionDep, key: IdempotencyKey = None):
    need(user, *OPERATORS)
    if replay := await idempotency.replay(db, key, scope(user, "customers"), body):
        return replay
    return await idempotency.store_created(
        db, key, scope(user, "customers"), body, Customer(name=body.name, email=body.email), CustomerOut
    )


@router.get("/customers", response_model=CustomerPage, tags=["customers"], responses=errors(403))
async def list_customers(
    user: CurrentUser,
    db: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    id: Annotated[list[Id] | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    """`q` finds customers by a part of their name; `id` (repeatable) names the ones wanted, e.g. to label a page
    of work events with its customers' names in one call."""
    need(user, *OPERATORS, Role.accounts_receivable)
    query = select(Customer)
    if q:
        query = query.where(Customer.name.ilike(like_pattern(q), escape="\\"))
    if id:
        query = query.where(Customer.id.in_(id))
    page = await id_page(db, query, Customer.id, limit, cursor, CustomerOut.model_validate)
    counts = await bucket_counts(db, [c.id for c in page["items"]])
    page["items"] = [c.model_copy(update={"counts": counts.get(c.id, Counts())}) for c in page["items"]]
    return page


@router.get("/customers/{customer_id}", response_model=CustomerOut, tags=["customers"], responses=errors(404))
async def get_customer(customer_id: Id, user: CurrentUser, db: SessionDep):
    customer = await db.get(Customer, customer_id)
    if customer is None or not may_see_customer(user, customer_id):
        raise HTTPException(404, "customer not found")
    counts = await bucket_counts(db, [customer_id])
    return CustomerOut.model_validate(customer).model_copy(update={"counts": counts.get(customer_id, Counts())})


@router.post(
    "/customers/{customer_id}/sites",
    status_code=201,
    response_model=SiteOut,
    tags=["customers"],
    responses=errors(403, 404),
)
async def create_site(customer_id: Id, body: SiteIn, user: CurrentUser, db: SessionDep, key: IdempotencyKey = None):
    own = user.role == Role.customer and user.customer_id == customer_id
    if not (user.role in OPERATORS or own):
        raise HTTPException(404, "customer not found")
    if own and not user.org_admin:
        # docs/api.md: an organisation admin manages its sites; other contacts add one inline with an asset.
        raise HTTPException(403, "only an organisation admin adds sites (or add one with a new asset)")
    if await db.get(Customer, customer_id) is None:
        raise HTTPException(404, "customer not found")
    where = scope(user, f"sites:{customer_id}")
    if replay := await idempotency.replay(db, key, where, body):
        return replay
    return await idempotency.store_created(
        db, key, where, body, Site(customer_id=customer_id, name=body.name, address=body.address), SiteOut
    )


@router.get("/customers/{customer_id}/sites", response_model=SitePage, tags=["customers"], responses=errors(404))
async def list_sites(customer_id: Id, user: CurrentUser, db: SessionDep):
    """Every site at once (`next_cursor` is always null)."""
    if not may_see_customer(user, customer_id):
        raise HTTPException(404, "customer not found")
    sites = (await db.execute(select(Site).where(Site.customer_id == customer_id).order_by(Site.id))).scalars()
    return {"items": [SiteOut.model_validate(s) for s in sites], "next_cursor": None}


@router.post("/assets", status_code=201, response_model=AssetOut, tags=["assets"], responses=errors(403, 404))
async def create_asset(body: AssetIn, user: CurrentUser, db: SessionDep, key: IdempotencyKey = None):
    if not (user.role in OPERATORS or (user.role == Role.customer and user.customer_id == body.customer_id)):
        raise HTTPException(
            404 if user.role == Role.customer else 403,
            "customer not found" if user.role == Role.customer else "only customers and dispatchers add assets",
        )
    if await db.get(Customer, body.customer_id) is None:
        raise HTTPException(404, "customer not found")
    if body.site_id is not None and body.site is not None:
        raise HTTPException(422, "give either site_id or a new site, not both")
    if body.site_id is not None:
        site = await db.get(Site, body.site_id)
        if site is None or site.customer_id != body.customer_id:
            raise HTTPException(422, "site_id is not a site of this customer")
    if replay := await idempotency.replay(db, key, scope(user, "assets"), body):
        return replay
    site_id = body.site_id
    if body.site is not None:  # a new site made inline, in the same transaction as its asset
        site = Site(customer_id=body.customer_id, name=body.site.name, address=body.site.address)
        db.add(site)
        await db.flush()
        site_id = site.id
    return await idempotency.store_created(
        db,
        key,
        scope(user, "assets"),
        body,
        Asset(**body.model_dump(exclude={"site", "site_id"}), site_id=site_id),
        AssetOut,
    )


@router.get("/assets", response_model=AssetPage, tags=["assets"], responses=errors(403))
async def list_assets(
    user: CurrentUser,
    db: SessionDep,
    customer_id: Id | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    query = select(Asset)
    if user.role == Role.customer:
        if customer_id is not None and customer_id != user.customer_id:
            return {"items": [], "next_cursor": None}
        query = query.where(Asset.customer_id == user.customer_id)
    elif user.role in OPERATORS:
        if customer_id is not None:
            query = query.where(Asset.customer_id == customer_id)
    else:
        raise HTTPException(403, "only customers and dispatchers list assets")
    if q:
        pattern = like_pattern(q)
        query = query.where(
            or_(Asset.name.ilike(pattern, escape="\\"), Asset.serial_number.ilike(pattern, escape="\\"))
        )
    return await id_page(db, query, Asset.id, limit, cursor, AssetOut.model_validate)


@router.get("/assets/{asset_id}", response_model=AssetDetail, tags=["assets"], responses=errors(404))
async def get_asset(asset_id: Id, user: CurrentUser, db: SessionDep):
    asset = await db.get(Asset, asset_id)
    own_asset = asset is not None and user.role == Role.customer and user.customer_id == asset.customer_id
    if asset is None or not (user.role in OPERATORS or own_asset):
        raise HTTPException(404, "asset not found")
    site = await db.get(Site, asset.site_id) if asset.site_id else None
    rows = (
        await db.execute(
            select(ServiceRequest, Site)
            .outerjoin(Site, Site.id == ServiceRequest.site_id)
            .where(ServiceRequest.asset_id == asset_id)
            .order_by(ServiceRequest.created_at.desc(), ServiceRequest.id.desc())
            .limit(200)
        )
    ).all()
    history = [
        AssetRequestOut(
            **views.request_out(user, r).model_dump(),
            serial_number=asset.serial_number,
            site_name=s.name if s else None,
            site_address=s.address if s else None,
        )
        for r, s in rows
    ]
    return AssetDetail(
        **AssetOut.model_validate(asset).model_dump(),
        site=SiteOut.model_validate(site) if site else None,
        requests=history,
    )
