from bot.ui import escape, fit, truncate


def test_truncate_cuts_at_a_word_and_marks_it() -> None:
    text = "Người dân đồng tình với chủ trương sáp nhập xã nhưng lo ngại về thủ tục hành chính"
    cut = truncate(text, 40)
    assert len(cut) <= 40
    assert cut.endswith("…")
    assert text.startswith(cut[:-1])
    assert not cut[:-1].endswith(" ")


def test_short_text_is_kept_whole_with_spaces_normalised() -> None:
    assert truncate("  a \n b  ", 40) == "a b"


def test_escape_keeps_html_literal() -> None:
    assert escape('<b>đậm</b> & "x"') == '&lt;b&gt;đậm&lt;/b&gt; &amp; "x"'


def test_fit_stays_under_the_limit_at_a_line() -> None:
    text = "\n".join("dòng " * 30 for _ in range(100))
    fitted = fit(text)
    assert len(fitted) <= 4096
    assert fitted.endswith("\n…")
