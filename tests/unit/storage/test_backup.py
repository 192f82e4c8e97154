"""`dlxh backup` and `dlxh restore` as an administrator runs them on a SQLite database:
the file and its checksum, owner-only, and every way a restore must refuse and change nothing.
(Backing up during traffic and restoring everything: tests/e2e/test_backup.py.)"""

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.backup import checksum_file

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'live.db'}")
    monkeypatch.setenv("BOT_TOKEN", "")
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    csv = tmp_path / "units.csv"
    csv.write_text("code,name,parent_code\nTINH,Tỉnh An Phú,\n", encoding="utf-8")
    assert runner.invoke(app, ["units", "import", str(csv)]).exit_code == 0
    return tmp_path


def backup_now(env: Path) -> Path:
    result = runner.invoke(app, ["backup"])
    assert result.exit_code == 0, result.output
    written = Path(result.output.split("backup written: ")[1].split(" (")[0])
    assert written.parent == env / "backups"
    return written


def unit_names(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM unit")]
    connection.close()
    return names


def restore_into(env: Path, monkeypatch: pytest.MonkeyPatch, target: str, file: Path) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{env / target}")
    result = runner.invoke(app, ["restore", str(file)])
    return result.exit_code, result.output


def test_a_backup_is_private_checksummed_and_restores(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = backup_now(env)
    assert written.name.startswith("dlxh-") and written.name.endswith(".sqlite3")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(checksum_file(written).stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    line = checksum_file(written).read_text(encoding="ascii")
    assert line.endswith(f"  {written.name}\n") and len(line.split()[0]) == 64  # sha256sum -c reads it
    assert not list(written.parent.glob("*.partial"))

    code, output = restore_into(env, monkeypatch, "restored.db", written)
    assert code == 0, output
    assert f"restored {written.name}" in output
    assert unit_names(env / "restored.db") == ["Tỉnh An Phú"]
    assert stat.S_IMODE((env / "restored.db").stat().st_mode) == 0o600


def test_two_backups_in_one_second_keep_both_and_old_ones_are_pruned(env: Path) -> None:
    first, second = backup_now(env), backup_now(env)
    assert first != second and first.exists() and second.exists()
    result = runner.invoke(app, ["backup", "--keep", "2"])
    assert result.exit_code == 0 and "older backups removed: 1" in result.output
    kept = sorted(path.name for path in (env / "backups").iterdir())
    assert len(kept) == 4 and first.name not in kept  # two backups, two checksums


def test_a_damaged_backup_is_refused_and_the_target_stays_empty(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = backup_now(env)
    data = bytearray(written.read_bytes())
    data[len(data) // 2] ^= 0xFF
    written.write_bytes(bytes(data))
    code, output = restore_into(env, monkeypatch, "restored.db", written)
    assert code == 2
    assert "is damaged: its checksum does not match" in output and "nothing was restored" in output
    assert not (env / "restored.db").exists() or not unit_names_or_empty(env / "restored.db")


def unit_names_or_empty(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        tables = list(connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    connection.close()
    return [row[0] for row in tables]


def test_a_backup_without_its_checksum_or_not_a_database_is_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = backup_now(env)
    checksum_file(written).unlink()
    code, output = restore_into(env, monkeypatch, "restored.db", written)
    assert code == 2 and f"{written.name}.sha256 is missing" in output

    stranger = env / "backups" / "dlxh-20261201-000000.sqlite3"
    stranger.write_bytes(b"not a database at all" * 100)
    import hashlib

    checksum_file(stranger).write_text(
        f"{hashlib.sha256(stranger.read_bytes()).hexdigest()}  {stranger.name}\n", encoding="ascii"
    )
    code, output = restore_into(env, monkeypatch, "restored.db", stranger)
    assert code == 2 and "is not a readable SQLite database" in output
    assert not unit_names_or_empty(env / "restored.db")

    code, output = restore_into(env, monkeypatch, "restored.db", env / "nowhere.sqlite3")
    assert code == 2 and "there is no backup file" in output


def test_a_restore_into_a_database_that_holds_anything_is_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = backup_now(env)
    code, output = restore_into(env, monkeypatch, "live.db", written)
    assert code == 2 and "is not empty" in output and "nothing was restored" in output
    assert unit_names(env / "live.db") == ["Tỉnh An Phú"]


def test_a_backup_of_a_missing_database_writes_nothing(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{env / 'absent.db'}")
    result = runner.invoke(app, ["backup"])
    assert result.exit_code == 2 and "there is no database file" in result.output
    assert not [path for path in (env / "backups").iterdir()]


def test_a_folder_that_cannot_be_written_is_named_and_leftovers_are_cleared(env: Path) -> None:
    blocked = env / "not-a-folder"
    blocked.write_text("a file where the folder should be", encoding="utf-8")
    result = runner.invoke(app, ["backup", "--to", str(blocked)])
    assert result.exit_code == 2 and "the backup could not be written" in result.output
    assert "no backup was written" in result.output and "Traceback" not in result.output
    # a run killed half-way left a copy and a checksum without its backup: the next run
    # clears them (the copy once it is a day old: it might be another run's, being written)
    folder = env / "backups"
    folder.mkdir(mode=0o700)
    stale = folder / "dlxh-20261101-010000.sqlite3.partial"
    stale.write_bytes(b"half a copy")
    os.utime(stale, (0, 0))
    fresh = folder / "dlxh-20261207-010000.sqlite3.partial"
    fresh.write_bytes(b"being written")
    orphan = folder / "dlxh-20261102-010000.sqlite3.sha256"
    orphan.write_text("0" * 64 + "  dlxh-20261102-010000.sqlite3\n", encoding="ascii")
    backup_now(env)
    assert not stale.exists() and not orphan.exists() and fresh.exists()
