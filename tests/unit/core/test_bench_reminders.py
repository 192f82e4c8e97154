"""bench/reminders.py's options and reporting: the issue's three figures in the JSON, each
target judged (nobody twice includes the restart's run), the options handed to the
measurement as given, and the default moment being the next 20th at 09:00 in the org's zone."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "reminders.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("bench_reminders", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _figures(
    queue: float = 3.3, ratio: float = 0.96, twice: int = 0, again_queued: int = 0, again_sent: int = 0
) -> dict[str, Any]:
    return {
        "code": "abc1234",
        "collaborators": 20_000,
        "units": 120,
        "silent": 6000,
        "scheduled_at": "2026-12-20T09:00:00+07:00",
        "speedup": 10.0,
        "latency_ms": 100.0,
        "limit_per_s": 300.0,
        "queue_seconds": queue,
        "first_delivered_after_tick_s": queue + 0.2,
        "last_delivered_after_tick_s": queue + 21.0,
        "rows_queued": 6000,
        "delivered": 6000,
        "rate_per_s": round(ratio * 300, 1),
        "rate_ratio": ratio,
        "sent_twice": twice,
        "lost": 0,
        "wrongly_reminded": 0,
        "http_429": 0,
        "answer_ms_while_reminding": [120.0],
        "answer_ms_idle": [110.0],
        "max_sends_in_flight": 32,
        "second_run_queued": again_queued,
        "second_run_sent": again_sent,
    }


def test_the_figures_and_their_targets_are_written(tmp_path: Path, capsys: Any) -> None:
    reminders = _load()

    async def runner(options: Any) -> dict[str, Any]:
        return _figures()

    out = tmp_path / "reminders.json"
    reminders.main(["--json", str(out), "--workdir", str(tmp_path)], runner)
    written = json.loads(out.read_text())
    assert {"queue_seconds": 3.3, "rate_ratio": 0.96, "sent_twice": 0}.items() <= written.items()
    assert {name: target["met"] for name, target in written["targets"].items()} == {
        "queue_seconds": True,
        "rate_ratio": True,
        "sent_twice": True,
    }
    assert capsys.readouterr().out.count("MET") == 3


@pytest.mark.parametrize(
    ("figures", "missed"),
    [
        (_figures(queue=10.5), "queue_seconds"),
        (_figures(ratio=0.949), "rate_ratio"),
        (_figures(twice=1), "sent_twice"),
        (_figures(again_queued=3), "sent_twice"),  # the restart queued them again
        (_figures(again_sent=1), "sent_twice"),
    ],
    ids=["queued after 10 s", "under 0.95", "one twice", "restart queued", "restart sent"],
)
def test_each_miss_is_named(tmp_path: Path, capsys: Any, figures: dict[str, Any], missed: str) -> None:
    reminders = _load()

    async def runner(options: Any) -> dict[str, Any]:
        return figures

    result = reminders.main(["--workdir", str(tmp_path)], runner)
    assert [name for name, target in result["targets"].items() if not target["met"]] == [missed]
    assert capsys.readouterr().out.count("MISSED") == 1


def test_the_options_reach_the_measurement(tmp_path: Path) -> None:
    reminders = _load()
    seen: list[Any] = []

    async def runner(options: Any) -> dict[str, Any]:
        seen.append(options)
        return _figures()

    argv = ["--collaborators", "300", "--units", "6", "--silent", "0.5", "--speedup", "5"]
    argv += ["--latency-ms", "20", "--at", "2027-01-25T09:00", "--workdir", str(tmp_path)]
    reminders.main(argv, runner)
    [options] = seen
    assert (options.collaborators, options.units, options.silent) == (300, 6, 0.5)
    assert (options.speedup, options.latency_ms) == (5.0, 20.0)
    assert options.at == datetime(2027, 1, 25, 2, 0, tzinfo=UTC)  # 09:00 in Hồ Chí Minh City


def test_the_defaults_are_the_issues(tmp_path: Path) -> None:
    reminders = _load()
    seen: list[Any] = []

    async def runner(options: Any) -> dict[str, Any]:
        seen.append(options)
        return _figures()

    reminders.main(["--workdir", str(tmp_path)], runner)
    [options] = seen
    assert (options.collaborators, options.units, options.silent) == (20_000, 120, 0.3)
    assert (options.speedup, options.latency_ms, options.at) == (10.0, 100.0, None)


@pytest.mark.parametrize(
    "argv",
    [["--silent", "1.5"], ["--silent", "x"], ["--units", "0"], ["--collaborators", "-3"], ["--at", "20/12"]],
    ids=["silent over 1", "silent not a number", "no units", "negative people", "unreadable time"],
)
def test_bad_options_are_refused_with_a_reason(tmp_path: Path, capsys: Any, argv: list[str]) -> None:
    reminders = _load()

    async def runner(options: Any) -> dict[str, Any]:
        raise AssertionError("nothing is measured")

    with pytest.raises(SystemExit):
        reminders.main([*argv, "--workdir", str(tmp_path)], runner)
    err = capsys.readouterr().err
    assert "between 0 and 1" in err or "1 or more" in err or "like 2026-12-20T09:00" in err


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 12, 7), datetime(2026, 12, 20, 2, 0, tzinfo=UTC)),
        (date(2026, 12, 20), datetime(2027, 1, 20, 2, 0, tzinfo=UTC)),
        (date(2027, 1, 31), datetime(2027, 2, 20, 2, 0, tzinfo=UTC)),
    ],
)
def test_the_default_moment_is_the_next_20th_at_nine(today: date, expected: datetime) -> None:
    assert _load().next_20th(today) == expected


def test_deliveries_are_counted_per_second_from_the_first() -> None:
    per_second = _load()._per_second
    assert per_second([10.0, 10.2, 10.99, 11.0, 13.5]) == [3, 1, 0, 1]
    assert per_second([]) == []
