from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.text import (
    detect_language,
    detect_script,
    normalize,
    normalize_aligned,
    strip_invisible,
)
from kefu.text.normalize import clean_display, match_key


def test_full_width_folds_to_half_width_and_lower_case() -> None:
    assert normalize("ＡＢＣ１２３？！") == "abc123?!"


def test_invisible_and_control_characters_are_removed() -> None:
    assert strip_invisible("押\u200b金\u202e\ufeff\x00") == "押金"
    assert clean_display("  \u200bhi\n ") == "hi"


def test_repeated_punctuation_collapses() -> None:
    assert normalize("押金怎么退？？？！！") == "押金怎么退?!"


def test_match_key_drops_punctuation_and_gaps_between_chinese() -> None:
    assert match_key("押金 怎么 退？") == "押金怎么退"
    assert match_key("How do I  get my deposit back?") == "how do i get my deposit back"
    assert match_key("Wi-Fi 密码") == "wi fi 密码"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("押金怎么退", "zh"),
        ("how do I unlock", "en"),
        ("我的 app 打不开", "zh"),
        ("my 押金 refund is late please help", "en"),
        ("12345 🚲", None),
        ("", None),
    ],
)
def test_language_detection(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected


def test_traditional_chinese_becomes_simplified() -> None:
    assert normalize("請問押金怎麼退？") == "请问押金怎么退?"


def test_every_normalised_character_maps_back_to_its_source() -> None:
    text = "  請問\u200b押金怎麼退？？？ＡＢＣ cafe\u0301 😡 "
    n = normalize_aligned(text)
    assert n.text == "请问押金怎么退?abc café 😡"
    start = n.text.index("押金")
    assert text[slice(*n.to_original(start, start + 2))] == "押金"
    start = n.text.index("abc")
    assert text[slice(*n.to_original(start, start + 3))] == "ＡＢＣ"
    start = n.text.index("café")
    assert text[slice(*n.to_original(start, start + 4))] == "cafe\u0301"


def test_span_outside_text_is_refused() -> None:
    with pytest.raises(ValueError):
        normalize_aligned("abc").to_original(2, 9)


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_alignment_holds_for_any_text(text: str) -> None:
    n = normalize_aligned(text)
    assert len(n.source) == len(n.text)
    assert list(n.source) == sorted(n.source)
    assert all(0 <= i < len(text) for i in n.source)
    for i in range(len(n.text)):
        start, end = n.to_original(i, i + 1)
        assert 0 <= start < end <= len(text)


def test_script_detection_distinguishes_loan_words_from_mixed_text() -> None:
    assert detect_script("我的 app 打不开") == "zh"
    assert detect_script("扫码 unlock 不了") == "mixed"
    assert detect_script("how do I unlock") == "en"
    assert detect_script("🚲 123") is None
