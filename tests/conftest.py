"""Shared fixtures: a real sandbox over HTTP, a real SQLite file, the real application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.i18n import compile_catalogs
from bot.sandbox import SandboxClient, SandboxServer, start_sandbox

compile_catalogs()


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = await start_sandbox()
    yield server
    await server.close()


@pytest.fixture
async def sandbox_client(sandbox: SandboxServer) -> AsyncIterator[SandboxClient]:
    async with SandboxClient(sandbox.base_url) as client:
        yield client


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path
