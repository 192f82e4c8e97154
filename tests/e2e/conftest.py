from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox import SandboxClient, SandboxServer
from storage.models import Role
from tests.e2e.harness import Persona, World, drop_database, make_world


@pytest.fixture
async def world(
    sandbox: SandboxServer, sandbox_client: SandboxClient, tmp_path: Path
) -> AsyncIterator[World]:
    built = await make_world(sandbox_client, sandbox.base_url, tmp_path)
    yield built
    await built.app.stop()
    await drop_database(built.app.settings.database_url)


@pytest.fixture
async def org(world: World) -> dict[str, Persona]:
    """The demo organisation: staff and leader at the province, collaborators, one registered group."""
    staff = await world.person_named("Trần Cán Bộ")
    leader = await world.person_named("Lê Lãnh Đạo")
    district_staff = await world.person_named("Phạm Huyện")
    await world.seed_member(staff, unit="TINH", role=Role.STAFF)
    await world.seed_member(leader, unit="TINH", role=Role.LEADER)
    await world.seed_member(district_staff, unit="HUYEN_B", role=Role.STAFF)
    people = {"staff": staff, "leader": leader, "district_staff": district_staff}
    for index, unit in enumerate(["HUYEN_A", "HUYEN_A", "HUYEN_A", "HUYEN_B"], start=1):
        collaborator = await world.person_named(f"CTV {index}")
        await world.seed_member(collaborator, unit=unit, full_name=f"Cộng tác viên {index}")
        # A collaborator has written to the bot before (as after registering).
        await collaborator.send("/help")
        people[f"ctv{index}"] = collaborator
    members = [staff, people["ctv1"], people["ctv2"], people["ctv3"], leader]
    await world.group("CTV Huyện Bình Minh", members, unit="HUYEN_A")
    return people
