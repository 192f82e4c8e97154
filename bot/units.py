"""The organisation tree: importing units from a CSV file (code, name, parent_code)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import people


class UnitImportError(ValueError):
    """A CSV row that cannot become a unit; nothing is imported."""


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    parent_code: str | None


def parse_units_csv(text: str) -> list[UnitRow]:
    """Rows in an order where every parent comes before its children."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    required = {"code", "name"}
    if not reader.fieldnames or not required <= {name.strip() for name in reader.fieldnames}:
        raise UnitImportError("the CSV needs the columns: code, name, parent_code")
    rows: list[UnitRow] = []
    for number, raw in enumerate(reader, start=2):
        code = (raw.get("code") or "").strip()
        name = (raw.get("name") or "").strip()
        parent = (raw.get("parent_code") or "").strip() or None
        if not code or not name:
            raise UnitImportError(f"line {number}: code and name are required")
        if len(code) > 64 or not code.replace("_", "").replace("-", "").isalnum():
            raise UnitImportError(f"line {number}: code {code!r} may use letters, digits, - and _ only")
        rows.append(UnitRow(code=code, name=name, parent_code=parent))
    codes = [row.code for row in rows]
    if len(set(codes)) != len(codes):
        raise UnitImportError("a unit code appears twice")
    return _parents_first(rows)


def _parents_first(rows: list[UnitRow]) -> list[UnitRow]:
    by_code = {row.code: row for row in rows}
    ordered: list[UnitRow] = []
    placed: set[str] = set()

    def place(row: UnitRow, trail: tuple[str, ...]) -> None:
        if row.code in placed:
            return
        if row.code in trail:
            raise UnitImportError(f"unit {row.code} is its own ancestor")
        if row.parent_code and row.parent_code in by_code:
            place(by_code[row.parent_code], (*trail, row.code))
        ordered.append(row)
        placed.add(row.code)

    for row in rows:
        place(row, ())
    return ordered


async def import_units(*, session: AsyncSession, rows: list[UnitRow]) -> tuple[int, int]:
    """Create new units and rename existing ones; returns (created, updated)."""
    created = updated = 0
    for row in rows:
        parent = None
        if row.parent_code:
            parent = await people.get_unit_by_code(session=session, code=row.parent_code)
            if parent is None:
                raise UnitImportError(f"unit {row.code}: parent {row.parent_code} does not exist")
        existing = await people.get_unit_by_code(session=session, code=row.code)
        if existing is None:
            await people.create_unit(session=session, code=row.code, name=row.name, parent=parent)
            created += 1
        else:
            if (existing.parent_id or None) != (parent.id if parent else None):
                raise UnitImportError(f"unit {row.code} already exists under another parent")
            if existing.name != row.name:
                existing.name = row.name
                session.add(existing)
                updated += 1
    return created, updated
