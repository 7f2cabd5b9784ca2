from pathlib import Path

import pytest

from kefu.dialogue.responses import Responses, load_responses
from kefu.knowledge.pack import PackError


@pytest.fixture(scope="module")
def responses() -> Responses:
    return Responses.load()


def test_variants_rotate_with_the_turn(responses: Responses) -> None:
    first = responses.render("common.greet", "zh", {"name": "王小明", "tier": None}, turn=0).text
    second = responses.render("common.greet", "zh", {"name": "王小明", "tier": None}, turn=1).text
    assert first != second
    assert first.startswith("王小明，您好")


def test_an_upset_customer_gets_no_cheerful_greeting(responses: Responses) -> None:
    calm = responses.render("common.greet", "en", {"name": None, "tier": None}, tone="neutral").text
    upset = responses.render("common.greet", "en", {"name": None, "tier": None}, tone="upset").text
    assert "sorry" in upset.lower() and "sorry" not in calm.lower()


def test_cards_quick_replies_and_money(responses: Responses) -> None:
    rendered = responses.render(
        "bike.refund.approved",
        "zh",
        {
            "refund": {"amount_cents": 1050, "days_to_account": 3},
            "slots": {"ride_id": "R1"},
            "lang": "zh",
        },
    )
    assert "10.50元" in rendered.text
    card = rendered.payload["card"]
    assert card["title"] == "退款成功"
    assert {"label": "退款金额", "value": "10.50元"} in card["fields"]
    guide = responses.render("bike.unlock.guide", "en", {})
    assert [q["title"] for q in guide.payload["quick_replies"]] == [
        "Yes, it opened",
        "Still locked",
    ]


def test_a_missing_variable_fails_loudly(responses: Responses) -> None:
    with pytest.raises(Exception, match="undefined"):
        responses.render("bike.refund.approved", "en", {})


def test_template_syntax_errors_are_found_at_load(tmp_path: Path) -> None:
    path = tmp_path / "responses.yaml"
    path.write_text(
        "pack: x\nresponses:\n  x.bad:\n    zh: '{{ oops'\n    en: ok\n", encoding="utf-8"
    )
    with pytest.raises(PackError, match=r"responses.yaml:3: responses.x.bad: template error"):
        load_responses(path)
