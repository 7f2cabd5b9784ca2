"""Tokens keep their spans in the original text, whatever normalisation did."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kefu.text import Tokenizer, emoji_in, normalize_aligned

TOKENIZER = Tokenizer(["开不了锁", "免押金"])


def spans(text: str) -> list[tuple[str, str]]:
    return [(t.text, text[t.start : t.end]) for t in TOKENIZER.tokenize(normalize_aligned(text))]


def test_chinese_words_and_domain_dictionary() -> None:
    assert spans("扫码开不了锁") == [("扫码", "扫码"), ("开不了锁", "开不了锁")]
    assert ("免押金", "免押金") in spans("怎么开通免押金")


def test_english_and_mixed_text() -> None:
    assert spans("I can't unlock the bike!") == [
        ("i", "I"),
        ("can", "can"),
        ("t", "t"),
        ("unlock", "unlock"),
        ("the", "the"),
        ("bike", "bike"),
    ]
    assert spans("扫码 unlock 不了") == [("扫码", "扫码"), ("unlock", "unlock"), ("不了", "不了")]


def test_spans_survive_width_zero_width_and_traditional() -> None:
    text = "請問\u200b押\u200d金怎麼退ＡＢＣ１２３"
    assert spans(text) == [
        ("请问", "請問"),
        ("押金", "押\u200d金"),
        ("怎么", "怎麼"),
        ("退", "退"),
        ("abc123", "ＡＢＣ１２３"),
    ]


def test_long_hostile_message_tokenizes() -> None:
    text = ("押金😡\u200b<script>" * 1500)[:10_000]
    tokens = TOKENIZER.tokenize(normalize_aligned(text))
    assert tokens and all(0 <= t.start < t.end <= len(text) for t in tokens)


def test_emoji_are_kept_as_signals() -> None:
    assert emoji_in("退押金😡😡 ok👍") == ("😡", "😡", "👍")


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_token_spans_are_always_inside_the_original(text: str) -> None:
    for token in TOKENIZER.tokenize(normalize_aligned(text)):
        assert 0 <= token.start < token.end <= len(text)
        assert text[token.start : token.end]
