"""`make run` without a token: the sandbox demo month plays through and ends with the summary."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.config import Settings
from bot.demo import run_sandbox

pytestmark = pytest.mark.skipif(
    os.environ.get("TEST_DATABASE") == "postgres",
    reason="the demo runs on its own SQLite file (SANDBOX_DATABASE_URL) whatever the pass",
)


async def test_demo_month_plays_and_prints_a_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        sandbox_port=0,
        sandbox_database_url=f"sqlite+aiosqlite:///{tmp_path / 'sandbox.db'}",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
    )
    await asyncio.wait_for(run_sandbox(settings, until=lambda: asyncio.sleep(0)), timeout=120)
    out = capsys.readouterr().out
    # the group is registered with /setup, as staff do it
    assert "👤 Trần Văn Cán (trong nhóm): /setup" in out and "Nhóm đã được đăng ký cho Xã Bình Minh" in out
    assert "👤 Vũ Thị Hoa: [✅ Tôi đồng ý và đăng ký]" in out and "Đăng ký thành công" in out
    # the topic post as the collaborators see it in their group
    assert "📌 (bài đăng chủ đề trong nhóm, như cộng tác viên thấy)" in out
    assert "Đã đăng chủ đề số 1" in out
    # The publisher's progress message, as it ended: every collaborator and the group reached.
    assert "Đã gửi: 7 · Lỗi: 0 · Không liên lạc được: 0 · Còn lại: 0" in out
    assert "✅ Hoàn tất: 7/7 nơi đã nhận được." in out
    # two on Telegram, one on Zalo in numbers and words
    assert out.count("Đã nhận báo cáo số") == 3
    assert "👤 Trịnh Thị Mai (Zalo): 1 3" in out
    assert "thả cảm xúc 👍" in out
    # three full reports and a one-line reply in the group, counted apart (issue 19)
    assert "Số báo cáo đầy đủ nhận được: 3" in out
    assert "Tỷ lệ báo cáo: 50,0% (3/6 cộng tác viên đã gửi báo cáo đầy đủ)" in out
    assert "Ý kiến nhanh trong nhóm: 1" in out
    assert "Đề xuất, kiến nghị với cấp ủy (1)" in out
    assert "Theo kênh: Telegram 5 · Zalo 1 cộng tác viên" in out
    assert "The bot keeps serving the sandbox" in out
