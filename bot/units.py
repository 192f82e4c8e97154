"""The organisation tree: importing units from a CSV file (code, name, parent_code), and the
order people read units in."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.forms.words import fold
from storage import people
from storage.models import Unit


def tree_order(units: Iterable[Unit]) -> list[Unit]:
    """Parents before their children, siblings by name (Xã An Bình before Xã Bình Minh),
    whatever the ids: the storage's path order sorts "/1/100/" before "/1/11/"."""
    listed = list(units)
    by_id = {unit.id: unit for unit in listed}

    def key(unit: Unit) -> tuple[str, ...]:
        ids = [int(part) for part in unit.path.strip("/").split("/") if part]
        return tuple(fold(by_id[unit_id].name) + f"\x00{unit_id}" for unit_id in ids if unit_id in by_id)

    return sorted(listed, key=key)


class UnitImportError(ValueError):
    """A CSV row that cannot become a unit; nothing is imported."""


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    parent_code: str | None
    line: int = 0  # in the file, for messages


def decode_units_file(data: bytes) -> str:
    """The text of a units file as Excel in Vietnam saves it: "CSV UTF-8" (with its BOM) is
    read; a file in another encoding (Excel's plain "CSV" is Windows-1258 there) is refused
    with what to do, rather than read into garbled names."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnitImportError(
            'the file is not UTF-8; in Excel choose Save As → "CSV UTF-8 (Comma delimited)" '
            '(a plain "CSV" from Excel in Vietnam is Windows-1258)'
        ) from None


def parse_units_csv(text: str) -> list[UnitRow]:
    """Rows in an order where every parent comes before its children. Commas or semicolons
    (Excel with Vietnamese regional settings writes semicolons)."""
    text = text.lstrip("\ufeff")
    header = text.split("\n", 1)[0]
    delimiter = ";" if header.count(";") > header.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    required = {"code", "name"}
    if not reader.fieldnames or not required <= {name.strip() for name in reader.fieldnames}:
        raise UnitImportError("the CSV needs the columns: code, name, parent_code")
    reader.fieldnames = [name.strip() for name in reader.fieldnames]  # "code; name; parent_code"
    rows: list[UnitRow] = []
    for raw in reader:
        number = reader.line_num  # the file's line, blank lines counted
        if not any((value or "").strip() for value in raw.values() if isinstance(value, str)):
            continue  # Excel's trailing ";;" rows
        code = (raw.get("code") or "").strip()
        name = (raw.get("name") or "").strip()
        parent = (raw.get("parent_code") or "").strip() or None
        if not code or not name:
            raise UnitImportError(f"line {number}: code and name are required")
        if len(code) > 64 or not code.replace("_", "").replace("-", "").isalnum():
            raise UnitImportError(f"line {number}: code {code!r} may use letters, digits, - and _ only")
        rows.append(UnitRow(code=code, name=name, parent_code=parent, line=number))
    first_line: dict[str, int] = {}
    for row in rows:
        if row.code in first_line:
            raise UnitImportError(
                f"line {row.line}: the code {row.code} is already on line {first_line[row.code]}"
            )
        first_line[row.code] = row.line
    return _parents_first(rows)


def _parents_first(rows: list[UnitRow]) -> list[UnitRow]:
    by_code = {row.code: row for row in rows}
    ordered: list[UnitRow] = []
    placed: set[str] = set()

    def place(row: UnitRow, trail: tuple[str, ...]) -> None:
        if row.code in placed:
            return
        if row.code in trail:
            raise UnitImportError(f"line {row.line}: unit {row.code} is its own ancestor")
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
                raise UnitImportError(
                    f"line {row.line}: the parent {row.parent_code} of {row.code} is neither in the file "
                    "nor imported before"
                )
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
