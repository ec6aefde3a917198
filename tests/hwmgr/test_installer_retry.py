"""The emulated installer retries its call-back on transient hwmgr errors only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from stockyard.hwmgr.installer_emulator import InstallerEmulator
from tests.hwmgr.conftest import ImageServer, start_lab, stop_lab
from tests.hwmgr.fakes import FakeFleet


class _FlakyCallbacks(httpx.AsyncBaseTransport):
    """Real HTTP, except that the first ``failures`` call-backs get ``status`` back."""

    def __init__(self, failures: int, status: int) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.failures = failures
        self.status = status
        self.callbacks: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/callback"):
            if len(self.callbacks) < self.failures:
                self.callbacks.append(self.status)
                return httpx.Response(self.status, json={"error": {"message": "busy"}})
            response = await self.real.handle_async_request(request)
            self.callbacks.append(response.status_code)
            return response
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


async def _deploy_with(tmp_path: Path, image: ImageServer, flaky: _FlakyCallbacks) -> str:
    installer = InstallerEmulator(
        "http://127.0.0.1:1", retry_delay=0.05, client=httpx.AsyncClient(transport=flaky)
    )
    lab = await start_lab(
        tmp_path / "hwmgr", Fernet.generate_key().decode(), FakeFleet(), image,
        installer=installer, install_deadline_seconds=60.0,
    )  # fmt: skip
    try:
        node = await lab.available("n1")
        task = await lab.deploy(node["uuid"])
        async with asyncio.timeout(60):
            # The runner tells the installer just after "installing".
            while not installer.booted:  # noqa: ASYNC110 - polling a plain list
                await asyncio.sleep(0.05)
        await installer.drain()
        if installer.errors:
            return "installer: " + "; ".join(installer.errors)
        return str((await lab.wait_task(task["uuid"]))["state"])
    finally:
        await stop_lab(lab)


async def test_call_back_retried_after_503s(tmp_path: Path, image_server: ImageServer) -> None:
    flaky = _FlakyCallbacks(failures=2, status=503)
    assert await _deploy_with(tmp_path, image_server, flaky) == "done"
    assert flaky.callbacks == [503, 503, 204]


async def test_call_back_not_retried_after_a_client_error(
    tmp_path: Path, image_server: ImageServer
) -> None:
    flaky = _FlakyCallbacks(failures=1, status=401)
    outcome = await _deploy_with(tmp_path, image_server, flaky)
    assert outcome.startswith("installer: ") and "call-back: HTTP 401" in outcome, outcome
    assert flaky.callbacks == [401]
