import pytest

from bot.units import UnitImportError, parse_units_csv


def test_parents_come_first_whatever_the_file_order() -> None:
    rows = parse_units_csv("code,name,parent_code\nXA_1,Xã Một,HUYEN_A\nHUYEN_A,Huyện A,TINH\nTINH,Tỉnh,\n")
    assert [row.code for row in rows] == ["TINH", "HUYEN_A", "XA_1"]
    assert rows[2].name == "Xã Một"


def test_excel_bom_is_ignored() -> None:
    rows = parse_units_csv("\ufeffcode,name,parent_code\nTINH,Tỉnh An Phú,\n")
    assert rows[0].code == "TINH" and rows[0].parent_code is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name\nTỉnh\n", "columns"),
        ("code,name,parent_code\n,Tỉnh,\n", "required"),
        ("code,name,parent_code\nA B,Tỉnh,\n", "letters"),
        ("code,name,parent_code\nA,Một,\nA,Hai,\n", "line 3: the code A is already on line 2"),
        ("code,name,parent_code\nA,Một,B\nB,Hai,A\n", "ancestor"),
    ],
)
def test_bad_files_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(UnitImportError, match=reason):
        parse_units_csv(text)


def test_spaced_headers_blank_and_empty_rows_and_file_line_numbers() -> None:
    """What Excel writes: "code; name; parent_code", ";;" rows at the end; a duplicate's
    message names the file's lines, blank lines counted."""
    text = "code; name; parent_code\nTINH;Tỉnh;\n\nXA;Xã;TINH\nXA;Xã khác;TINH\n;;\n"
    with pytest.raises(UnitImportError, match="line 5: the code XA is already on line 4"):
        parse_units_csv(text)
    rows = parse_units_csv("code; name; parent_code\nTINH;Tỉnh;\nXA;Xã;TINH\n;;\n;;\n")
    assert [(row.code, row.parent_code, row.line) for row in rows] == [("TINH", None, 2), ("XA", "TINH", 3)]
