from __future__ import annotations

import pytest

from kefu.text import detect_language, normalize, strip_invisible
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
