"""The `dlxh` commands an administrator runs: migrate, import units, create an invite."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("BOT_TOKEN", "")
    return tmp_path


def test_upgrade_import_and_invite(env: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.output
    csv = env / "units.csv"
    csv.write_text(
        "code,name,parent_code\nHUYEN_A,Huyện Bình Minh,TINH\nTINH,Tỉnh An Phú,\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["units", "import", str(csv)])
    assert result.exit_code == 0 and "2 created" in result.output
    result = runner.invoke(app, ["units", "import", str(csv)])
    assert "0 created, 0 renamed" in result.output
    result = runner.invoke(app, ["invite", "--unit", "HUYEN_A", "--uses", "3", "--role", "staff"])
    assert result.exit_code == 0 and result.output.startswith("/start ")


def test_bad_input_is_refused_and_nothing_changes(env: Path) -> None:
    bad = env / "bad.csv"
    bad.write_text("code,name,parent_code\nX,Xã,KHONG_CO\n", encoding="utf-8")
    result = runner.invoke(app, ["units", "import", str(bad)])
    assert result.exit_code == 2 and "parent KHONG_CO does not exist" in result.output
    result = runner.invoke(app, ["invite", "--unit", "NOPE"])
    assert result.exit_code == 2 and "no unit with the code 'NOPE'" in result.output
    result = runner.invoke(app, ["invite", "--unit", "X", "--uses", "0"])
    assert result.exit_code == 2
