"""bench/inbound.py's reporting: several runs give the median of each figure, every ratio
taken within its own run, and the JSON keys the issue names."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "inbound.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("bench_inbound", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _figures(rate: float, echo: float, reports: int = 10) -> dict[str, Any]:
    return {
        "users": 10,
        "updates_per_s": rate,
        "p50_ms": 1000 / rate,
        "p99_ms": 3000 / rate,
        "echo_updates_per_s": echo,
        "ratio": round(rate / echo, 3),
        "bot_cpu_ms_per_update": 1000 / rate,
        "bot_system_cpu_ms_per_update": 0.3,
        "echo_cpu_ms_per_update": 1.2,
        "cpu_vs_echo": round(1000 / rate / 1.2, 2),
        "bot_peak_rss_mb": 200.0,
        "driver_cpu_share": 0.5,
        "echo_driver_cpu_share": 0.9,
        "reports_stored": reports,
        "errors": [],
    }


def test_three_runs_report_medians_and_keep_every_run(tmp_path: Path, capsys: Any) -> None:
    inbound = _load()
    results = iter([_figures(200, 800), _figures(300, 500), _figures(250, 400, reports=9)])

    async def runner(users: int, workdir: Path) -> dict[str, Any]:
        return next(results)

    out = tmp_path / "inbound.json"
    inbound.main(["--users", "10", "--runs", "3", "--json", str(out), "--workdir", str(tmp_path)], runner)
    written = json.loads(out.read_text())
    assert {"updates_per_s", "echo_updates_per_s", "ratio", "p50_ms", "p99_ms"} <= written.keys()
    assert written["updates_per_s"] == 250
    assert written["echo_updates_per_s"] == 500
    # The median of the three runs' own ratios (0.25, 0.6, 0.625), not 250 / 500.
    assert written["ratio"] == 0.6
    assert written["reports_stored"] == 9  # the worst run
    assert [run["updates_per_s"] for run in written["runs"]] == [200, 300, 250]
    printed = capsys.readouterr().out
    assert "run 3 of 3" in printed and "median of 3 runs" in printed


def test_one_run_is_reported_as_it_is(tmp_path: Path) -> None:
    inbound = _load()

    async def runner(users: int, workdir: Path) -> dict[str, Any]:
        return _figures(280, 600)

    figures = inbound.main(["--workdir", str(tmp_path)], runner)
    assert figures["updates_per_s"] == 280 and "runs" not in figures


@pytest.mark.parametrize("runs", ["0", "-2", "ba"])
def test_a_run_count_under_one_is_refused_with_a_reason(tmp_path: Path, capsys: Any, runs: str) -> None:
    inbound = _load()

    async def runner(users: int, workdir: Path) -> dict[str, Any]:
        raise AssertionError("nothing is measured")

    with pytest.raises(SystemExit):
        inbound.main(["--runs", runs, "--workdir", str(tmp_path)], runner)
    assert "1 or more" in capsys.readouterr().err
