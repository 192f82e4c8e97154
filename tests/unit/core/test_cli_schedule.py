"""`dlxh schedule list|set|pause|resume`: every job with its next run; bad input changes nothing."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


def test_list_set_pause_and_resume(env: Path) -> None:
    result = runner.invoke(app, ["schedule", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(re.match(r"^housekeeping +daily 03:00 +next \d\d/\d\d/\d{4} 03:00$", line) for line in lines)
    assert "Remove handled updates" in result.output
    assert any(
        re.match(r"^due_reminders +\(each topic's time\) +at each topic's time$", line) for line in lines
    )
    assert any(re.match(r"^reminders +20,25 09:00 +next ", line) for line in lines)
    result = runner.invoke(app, ["schedule", "set", "housekeeping", "ngày 1, 15 lúc 4h"])
    assert result.exit_code == 0 and "1,15 04:00" in result.output and "next " in result.output
    assert " 04:00" in result.output.split("next ")[1]  # in the organisation's time zone
    result = runner.invoke(app, ["schedule", "pause", "housekeeping"])
    assert result.exit_code == 0 and result.output.rstrip().endswith("paused")
    result = runner.invoke(app, ["schedule", "resume", "HOUSEKEEPING"])
    assert result.exit_code == 0 and "next " in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["set", "housekeeping", "32 09:00"], "there is no day 32 in a month"),
        (["set", "housekeeping", "20 25:00"], "25:00 is not a time of day"),
        (["set", "housekeeping", "fifth monday 08:00"], "use first to fourth, or 'last'"),
        (["set", "nhac_viec", "20 09:00"], "there is no job 'nhac_viec'; the jobs are: publish_scheduled"),
        (["pause", "nhac_viec"], "there is no job 'nhac_viec'"),
        (["set", "due_reminders", "20 09:00"], "'due_reminders' has no rule of its own"),
    ],
)
def test_bad_input_is_refused_with_a_reason_and_changes_nothing(
    env: Path, arguments: list[str], message: str
) -> None:
    before = runner.invoke(app, ["schedule", "list"]).output
    result = runner.invoke(app, ["schedule", *arguments])
    assert result.exit_code == 2
    assert message in result.stderr and "nothing was changed" in result.stderr
    assert runner.invoke(app, ["schedule", "list"]).output == before
