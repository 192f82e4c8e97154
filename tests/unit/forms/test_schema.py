import pytest
from pydantic import ValidationError

from bot.forms import FormDefinition, load_builtin_forms, load_form_yaml, text_for


def test_builtin_forms_load_with_exact_vietnamese() -> None:
    forms = load_builtin_forms()
    monthly = forms["monthly_opinion"]
    assert monthly.title["vi"] == "Báo cáo tình hình dư luận xã hội định kỳ"
    assert [q.key for q in monthly.questions] == [
        "linh_vuc",
        "tam_trang",
        "xu_huong",
        "noi_dung",
        "doi_tuong",
        "pham_vi",
        "nguon",
        "muc_do",
        "de_xuat",
        "minh_chung",
    ]
    labels = [o.label["vi"] for o in monthly.question("linh_vuc").options]
    assert labels[0] == "Kinh tế – đời sống" and labels[2] == "Đất đai, giải phóng mặt bằng"
    assert [o.value for o in monthly.question("muc_do").options] == [
        "binh_thuong",
        "can_quan_tam",
        "khan_cap",
    ]
    assert monthly.question("noi_dung").min_length == 20 and monthly.question("noi_dung").max_length == 3000
    assert not monthly.question("de_xuat").required and not monthly.question("minh_chung").required
    incident = forms["incident"]
    assert incident.title["vi"] == "Báo cáo đột xuất"
    assert incident.question("thoi_gian").allow_future is False
    assert [o.label["vi"] for o in incident.question("phan_ung").options] == [
        "Đồng tình",
        "Trái chiều",
        "Bức xúc",
        "Chưa rõ",
    ]


def test_plain_strings_mean_vietnamese() -> None:
    form = load_form_yaml("key: f\ntitle: Mẫu\nquestions:\n  - {key: a, type: text, label: Câu hỏi}\n")
    assert text_for(form.title, "en") == "Mẫu"


def _form(questions: list[dict]) -> dict:
    return {"key": "f", "title": "T", "questions": questions}


@pytest.mark.parametrize(
    ("questions", "message"),
    [
        ([{"key": "a", "type": "text", "label": "A"}, {"key": "a", "type": "text", "label": "B"}], "twice"),
        (
            [{"key": "a", "type": "choice", "label": "A", "options": [{"value": "x", "label": "X"}]}],
            "two options",
        ),
        ([{"key": "a", "type": "text", "label": "A", "min_length": 5, "max_length": 2}], "min_length"),
        ([{"key": "a", "type": "number", "label": "A", "min": 5, "max": 2}], "min is greater"),
        ([{"key": "a", "type": "text", "label": "A", "pattern": "("}], "compile"),
        (
            [{"key": "a", "type": "text", "label": "A", "show_if": {"question": "b", "equals": "x"}}],
            "earlier",
        ),
        (
            [
                {"key": "a", "type": "yes_no", "label": "A"},
                {"key": "b", "type": "text", "label": "B", "show_if": {"question": "a", "equals": "maybe"}},
            ],
            "unknown options",
        ),
        (
            [{"key": "a", "type": "text", "label": "A", "options": [{"value": "x", "label": "X"}]}],
            "only choice",
        ),
        ([{"key": "a", "type": "text", "label": {"en": "A"}}], "vi"),
    ],
)
def test_inconsistent_definitions_are_refused(questions: list[dict], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FormDefinition.model_validate(_form(questions))
