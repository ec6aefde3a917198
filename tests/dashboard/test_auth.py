"""Login, project switch, logout and dead tokens, against the in-process API."""

from __future__ import annotations

from tests.dashboard.conftest import Browserless


async def test_login_keeps_the_token_server_side(web: Browserless) -> None:
    response = await web.login()
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/servers"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("stockyard_session=")
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert "path=/dashboard" in cookie.lower()
    token = web.session_token()
    assert token not in cookie
    page = await web.client.get("/dashboard/servers")
    assert page.status_code == 200
    assert "demo" in page.text
    assert token not in page.text
    # The token the dashboard holds is a live, demo-scoped Keystone token.
    check = await web.cloud.client.get(
        "/identity/v3/auth/tokens",
        headers={"X-Auth-Token": web.cloud.admin_token, "X-Subject-Token": token},
    )
    assert check.status_code == 200
    assert check.json()["token"]["project"]["name"] == "demo"


async def test_login_rotates_the_session_id(web: Browserless) -> None:
    await web.client.get("/dashboard/login")
    before = web.client.cookies.get("stockyard_session")
    await web.login()
    after = web.client.cookies.get("stockyard_session")
    assert before and after and before != after
    assert web.dash.sessions.get(before) is None


async def test_wrong_password_is_a_message_not_a_trace(web: Browserless) -> None:
    response = await web.login(password="nope")
    assert response.status_code == 401
    assert "Login failed: wrong user name, password or project." in response.text
    assert 'value="demo"' in response.text  # the user name is kept
    assert "nope" not in response.text  # the password is not
    assert "Traceback" not in response.text


async def test_pages_need_a_login(web: Browserless) -> None:
    response = await web.client.get("/dashboard/servers")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    # htmx requests (the polling) are sent to the login page as a whole, not swapped in.
    fragment = await web.client.get("/dashboard/servers/table", headers={"HX-Request": "true"})
    assert fragment.headers["HX-Redirect"] == "/dashboard/login"


async def test_post_without_the_csrf_token_is_refused(web: Browserless) -> None:
    await web.login()
    for token in (None, "forged"):
        data = {"name": "x"} if token is None else {"name": "x", "csrf_token": token}
        response = await web.client.post("/dashboard/logout", data=data)
        assert response.status_code == 403
        assert "did not come from this dashboard" in response.text
    # Still logged in: the refused logout did nothing.
    assert (await web.client.get("/dashboard/servers")).status_code == 200
    # The login form is checked too (login CSRF).
    await web.client.post(
        "/dashboard/logout", data={"csrf_token": await web.csrf("/dashboard/servers")}
    )
    refused = await web.client.post(
        "/dashboard/login", data={"username": "demo", "password": "demo-pw", "project": "demo"}
    )
    assert refused.status_code == 403


async def test_logout_revokes_the_token(web: Browserless) -> None:
    await web.login()
    token = web.session_token()
    response = await web.post("/dashboard/logout", {}, csrf_from="/dashboard/servers")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    check = await web.cloud.client.get(
        "/identity/v3/auth/tokens",
        headers={"X-Auth-Token": web.cloud.admin_token, "X-Subject-Token": token},
    )
    assert check.status_code == 404
    login = await web.client.get("/dashboard/login")
    assert "You are logged out." in login.text
    assert (await web.client.get("/dashboard/servers")).status_code == 303


async def test_a_revoked_token_sends_the_user_to_login(web: Browserless) -> None:
    await web.login()
    token = web.session_token()
    revoked = await web.cloud.client.delete(
        "/identity/v3/auth/tokens",
        headers={"X-Auth-Token": web.cloud.admin_token, "X-Subject-Token": token},
    )
    assert revoked.status_code == 204
    response = await web.client.get("/dashboard/servers")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    # The page's other API calls were wound down with it, not left holding API sessions.
    assert web.cloud.state.db.engine.pool.checkedout() == 0
    login = await web.client.get("/dashboard/login")
    assert "token expired or was revoked" in login.text


async def test_an_expired_token_sends_the_user_to_login(web: Browserless) -> None:
    from datetime import UTC, datetime, timedelta

    await web.login()
    session = web.dash.sessions.get(web.client.cookies.get("stockyard_session"))
    assert session is not None and session.token is not None
    session.token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    response = await web.client.get("/dashboard/servers")
    assert response.status_code == 303
    assert "Your session has expired" in (await web.client.get("/dashboard/login")).text


async def test_project_switch_rescopes_and_revokes_the_old_token(web: Browserless) -> None:
    cloud = web.cloud
    roles = (await cloud.client.get("/identity/v3/roles", headers=cloud.admin)).json()["roles"]
    member = next(r["id"] for r in roles if r["name"] == "member")
    granted = await cloud.client.put(
        f"/identity/v3/projects/{cloud.seeded.admin_project_id}/users/"
        f"{cloud.seeded.demo_user_id}/roles/{member}",
        headers=cloud.admin,
    )
    assert granted.status_code == 204
    await web.login()
    old = web.session_token()
    page = await web.client.get("/dashboard/servers")
    assert f'value="{cloud.seeded.admin_project_id}"' in page.text  # offered in the switcher
    response = await web.post(
        "/dashboard/project",
        {"project_id": cloud.seeded.admin_project_id},
        csrf_from="/dashboard/servers",
    )
    assert response.status_code == 303
    new = web.session_token()
    assert new != old
    shown = await cloud.client.get(
        "/identity/v3/auth/tokens",
        headers={"X-Auth-Token": cloud.admin_token, "X-Subject-Token": new},
    )
    assert shown.json()["token"]["project"]["id"] == cloud.seeded.admin_project_id
    gone = await cloud.client.get(
        "/identity/v3/auth/tokens",
        headers={"X-Auth-Token": cloud.admin_token, "X-Subject-Token": old},
    )
    assert gone.status_code == 404
    assert "Now working in project admin." in (await web.client.get("/dashboard/servers")).text


async def test_switching_to_a_project_without_a_role_is_refused_by_the_api(
    web: Browserless,
) -> None:
    await web.login()
    response = await web.post(
        "/dashboard/project",
        {"project_id": web.cloud.seeded.admin_project_id},
        csrf_from="/dashboard/servers",
    )
    assert response.status_code == 303
    page = await web.client.get("/dashboard/servers")
    assert "Could not switch project" in page.text
    assert page.status_code == 200  # still logged in, in demo


async def test_unknown_pages_and_bad_values_are_pages_not_json(web: Browserless) -> None:
    await web.login()
    missing = await web.client.get("/dashboard/no-such-page")
    assert missing.status_code == 404
    assert "There is no such page." in missing.text and "<html" in missing.text
    bad = await web.client.get("/dashboard/servers/table?delay=soon")
    assert bad.status_code == 400 and "<html" in bad.text
    gone = await web.client.get("/dashboard/servers/00000000-0000-0000-0000-000000000000")
    assert gone.status_code == 404 and "could not be found" in gone.text
    root = await web.client.get("/dashboard/")
    assert root.status_code == 303 and root.headers["location"] == "/dashboard/servers"
