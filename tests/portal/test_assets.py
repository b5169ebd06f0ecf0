"""Sites and assets made inline by a customer for its own organisation; an asset's page and its history."""

from __future__ import annotations

from tests.portal.support import new_request, unique


async def test_customer_creates_sites_and_assets_inline_for_its_own_org(api, admin, cast):
    customer = cast.customer
    serial = unique("SN")
    asset = await customer.post(
        "/assets",
        {
            "customer_id": cast.customer_id,
            "name": "Boiler 1",
            "serial_number": serial,
            "model": "B-200",
            "site": {"name": "North depot", "address": "9 Quay St"},
        },
        expect=201,
    )
    assert asset["id"] and asset["site_id"] and asset["serial_number"] == serial
    sites = (await customer.get(f"/customers/{cast.customer_id}/sites"))["items"]
    assert {
        "id": asset["site_id"],
        "customer_id": cast.customer_id,
        "name": "North depot",
        "address": "9 Quay St",
    } in sites
    both = await api.http.post(
        "/assets",
        json={
            "customer_id": cast.customer_id,
            "name": "x",
            "serial_number": "y",
            "site_id": asset["site_id"],
            "site": {"name": "z"},
        },
        headers=customer.headers,
    )
    assert both.status_code == 422

    # Another organisation: its customer id is unknown to us, its sites are not ours to use.
    other = await admin.post("/customers", {"name": "Elsewhere Inc"}, expect=201)
    other_site = await admin.post(f"/customers/{other['id']}/sites", {"name": "Their site"}, expect=201)
    for body, status in (
        ({"customer_id": other["id"], "name": "x", "serial_number": "y"}, 404),
        ({"customer_id": cast.customer_id, "site_id": other_site["id"], "name": "x", "serial_number": "y"}, 422),
    ):
        response = await api.http.post("/assets", json=body, headers=customer.headers)
        assert response.status_code == status, response.text
    assert (
        await api.http.post(f"/customers/{other['id']}/sites", json={"name": "mine now"}, headers=customer.headers)
    ).status_code == 404
    for role_user in (cast.provider, cast.receivable):
        response = await api.http.post(
            "/assets",
            json={"customer_id": cast.customer_id, "name": "x", "serial_number": "y"},
            headers=role_user.headers,
        )
        assert response.status_code == 403

    # Listing and searching: own assets only; a typed % is a literal character, not a wildcard.
    listed = (await customer.get(f"/assets?q={serial.lower()}"))["items"]
    assert [a["id"] for a in listed] == [asset["id"]]
    assert (await customer.get("/assets?q=%25"))["items"] == []
    assert (await customer.get(f"/assets?customer_id={other['id']}"))["items"] == []
    page = await customer.get("/assets?limit=1")
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = await customer.get(f"/assets?limit=1&cursor={page['next_cursor']}")
    assert rest["items"][0]["id"] > page["items"][0]["id"]
    assert (await api.http.get("/assets?cursor=bm9wZQ", headers=customer.headers)).status_code == 400


async def test_asset_page_lists_past_requests_with_serial_and_site(api, admin, cast):
    detail = await cast.customer.get(f"/assets/{cast.asset_id}")
    assert detail["requests"] == [] and detail["site"]["name"] == "Main plant"
    first = await new_request(cast, "Noisy fan")
    second = await new_request(cast, "Leaking valve")
    await cast.customer.post(f"/requests/{first['number']}/cancel", {"reason": "fixed it ourselves"})
    detail = await cast.customer.get(f"/assets/{cast.asset_id}")
    history = detail["requests"]
    assert [r["number"] for r in history] == [second["number"], first["number"]]  # newest first
    assert all(r["serial_number"] == detail["serial_number"] for r in history)
    assert all((r["site_name"], r["site_address"]) == ("Main plant", "1 Road") for r in history)
    assert [r["status"] for r in history] == ["draft", "cancelled"]
    assert (await cast.dispatcher.get(f"/assets/{cast.asset_id}"))["requests"] == history

    stranger_org = await admin.post("/customers", {"name": "Stranger Ltd"}, expect=201)
    stranger = await api.make_user(admin, "customer", customer_id=stranger_org["id"])
    for user in (stranger, cast.provider, cast.receivable):
        assert (await api.http.get(f"/assets/{cast.asset_id}", headers=user.headers)).status_code == 404


async def test_only_an_org_admin_adds_sites_directly(api, admin, cast):
    plain = await api.http.post(
        f"/customers/{cast.customer_id}/sites", json={"name": "Annex"}, headers=cast.customer.headers
    )
    assert plain.status_code == 403 and "organisation admin" in plain.json()["detail"]
    org_admin = await api.make_user(admin, "customer", customer_id=cast.customer_id, org_admin=True)
    site = await org_admin.post(
        f"/customers/{cast.customer_id}/sites", {"name": "Annex", "address": "3 Row"}, expect=201
    )
    assert site["customer_id"] == cast.customer_id and site["name"] == "Annex"
