"""JSON codec: the standard library against storage.jsoncodec (orjson) on the bot's payloads.

The payloads are the ones every button press handles: the raw update written to the inbox,
the editMessageText request with a form's keyboard, and the Bot API's answer. Medians of `--repeat` timings of `--number` calls each, in microseconds per call.

    python bench/json_codec.py [--number 20000] [--repeat 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage import jsoncodec  # noqa: E402

USER = {"id": 1001, "is_bot": False, "first_name": "Nguyễn", "last_name": "Văn An", "language_code": "vi"}
CHAT = {"id": 1001, "type": "private", "first_name": "Nguyễn", "last_name": "Văn An"}
PROMPT = "<b>Câu hỏi 2/10.</b> Tâm trạng chung của nhân dân trên địa bàn\n<i>Chọn một.</i>"
KEYBOARD = {
    "inline_keyboard": [
        [{"text": f"Ổn định, phấn khởi ({index})", "callback_data": f"f:1234:3:c:{index}"}]
        for index in range(9)
    ]
    + [
        [
            {"text": "⬅️ Quay lại", "callback_data": "f:1234:3:b:-1"},
            {"text": "❌ Hủy", "callback_data": "f:1234:3:x:-1"},
        ]
    ]
}
MESSAGE = {"message_id": 77, "date": 1_764_900_000, "chat": CHAT, "from": USER, "text": PROMPT}
PAYLOADS: dict[str, Any] = {
    "update": {
        "update_id": 900_001,
        "callback_query": {
            "id": "4382",
            "from": USER,
            "chat_instance": "-99",
            "data": "f:1234:3:c:1",
            "message": {**MESSAGE, "reply_markup": KEYBOARD},
        },
    },
    "request": {
        "chat_id": 1001,
        "message_id": 77,
        "text": PROMPT,
        "parse_mode": "HTML",
        "reply_markup": KEYBOARD,
    },
    "answer": {"ok": True, "result": {**MESSAGE, "edit_date": 1_764_900_001, "reply_markup": KEYBOARD}},
}


def _median_us(call: Callable[[], Any], number: int, repeat: int) -> float:
    return statistics.median(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def measure(number: int, repeat: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, value in PAYLOADS.items():
        text = json.dumps(value, ensure_ascii=False)
        row = {
            "bytes": len(text.encode()),
            "stdlib_dumps_us": _median_us(lambda v=value: json.dumps(v, ensure_ascii=False), number, repeat),
            "ours_dumps_us": _median_us(lambda v=value: jsoncodec.dumps(v), number, repeat),
            "stdlib_loads_us": _median_us(lambda t=text: json.loads(t), number, repeat),
            "ours_loads_us": _median_us(lambda t=text: jsoncodec.loads(t), number, repeat),
        }
        row["dumps_speedup"] = row["stdlib_dumps_us"] / row["ours_dumps_us"]
        row["loads_speedup"] = row["stdlib_loads_us"] / row["ours_loads_us"]
        figures[name] = {
            key: round(number_, 2) if isinstance(number_, float) else number_ for key, number_ in row.items()
        }
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    args = parser.parse_args(argv)
    figures = measure(args.number, args.repeat)
    print(f"{'payload':<12} {'bytes':>6} {'dumps µs (std → ours)':>24} {'loads µs (std → ours)':>24}")
    for name, row in figures.items():
        dumps = f"{row['stdlib_dumps_us']:.1f} → {row['ours_dumps_us']:.1f} ({row['dumps_speedup']:.1f}x)"
        loads = f"{row['stdlib_loads_us']:.1f} → {row['ours_loads_us']:.1f} ({row['loads_speedup']:.1f}x)"
        print(f"{name:<12} {row['bytes']:>6} {dumps:>24} {loads:>24}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
