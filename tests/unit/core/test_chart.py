"""The /summary chart and the files it lives in until sent."""

import os
import time
from pathlib import Path

from bot.analytics.chart import CHART_UNITS, ChartTexts, has_chart, render_chart
from bot.analytics.summary import OptionFigure, Summary, UnitFigure
from bot.delivery.media import MediaStore

TEXTS = ChartTexts(
    "Dư luận xã hội tháng 12/2026 · Tỉnh An Phú", "Tỷ lệ (%)", "Thấp nhất (%)", "Mức độ", "Báo cáo"
)


def _summary(units: int, reports: int = 10) -> Summary:
    return Summary(
        period="2026-12",
        scope_name="Tỉnh An Phú",
        reports=reports,
        reporters=reports,
        active=units * 3,
        units=[UnitFigure(i, f"Xã Bình Minh {i}", i % 3, 0, i % 4, 3) for i in range(1, units + 1)],
        questions=[],
        urgency=[
            OptionFigure("binh_thuong", "Bình thường", 7, 70.0),
            OptionFigure("khan_cap", "Khẩn cấp", 3, 30.0),
        ],
        excerpts=[],
    )


def test_a_chart_is_a_png_of_a_size_a_phone_shows() -> None:
    small, large = render_chart(_summary(3), TEXTS), render_chart(_summary(120), TEXTS)
    for png in (small, large):
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert width == 880 and 300 <= height <= 2000, (width, height)
    # 120 communes: the lowest CHART_UNITS only, so the picture stays readable
    assert int.from_bytes(large[20:24], "big") < 0.45 * 110 * (CHART_UNITS + 6) + 300


def test_nothing_to_draw_without_reports_or_collaborators() -> None:
    assert has_chart(_summary(3))
    assert not has_chart(_summary(3, reports=0))
    assert not has_chart(_summary(0))


def test_media_files_are_private_named_at_random_and_pruned(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", "https://dlxh.example.vn/")
    first, second = store.save(b"one"), store.save(b"two")
    assert first != second and first.startswith("media:")
    path = store.path(first)
    assert path is not None and path.read_bytes() == b"one" and path.stat().st_mode & 0o077 == 0
    assert (tmp_path / "media").stat().st_mode & 0o077 == 0
    assert store.url(first) == f"https://dlxh.example.vn/media/{first.removeprefix('media:')}"
    for reference in ("media:../secret.png", "media:x.png", "https://a.b/c.png", "media:" + "a" * 20 + ".db"):
        assert store.path(reference) is None and store.url(reference) is None
    assert MediaStore(tmp_path / "media").url(first) is None  # no public address: no URL
    old = time.time() - 8 * 86400
    os.utime(path, (old, old))
    assert store.prune(older_than_days=7) == 1
    assert store.path(first) is None and store.path(second) is not None
