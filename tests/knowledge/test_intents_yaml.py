from __future__ import annotations

from pathlib import Path

import pytest

from kefu.knowledge.intents import bundled_examples, parse_intents
from kefu.knowledge.pack import PackError

GOOD = """\
pack: bike
intents:
  - name: bike.report_fault
    description: {zh: 报修, en: Report a fault}
    examples:
      zh: [车坏了, 刹车失灵]
      en: [the bike is broken]
  - name: out_of_scope
    examples:
      en: [what's the weather]
"""


def test_examples_flatten_both_languages() -> None:
    parsed = parse_intents(GOOD)
    assert parsed.examples() == [
        ("车坏了", "bike.report_fault"),
        ("刹车失灵", "bike.report_fault"),
        ("the bike is broken", "bike.report_fault"),
        ("what's the weather", "out_of_scope"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("bike.report_fault", "Bike Fault!"), "f.yaml:3: intents.0.name: must be"),
        (GOOD.replace("out_of_scope", "bike.report_fault"), "f.yaml:8: intents.1.name: duplicate"),
        (GOOD.replace("      en: [what's the weather]\n", "      zh: []\n"), "needs at least one"),
        ("pack: [", "f.yaml:1: invalid YAML"),
        ("- just a list", "f.yaml:1: an intents file is a mapping"),
        (GOOD.replace("zh: [车坏了, 刹车失灵]", "zh: [车坏了, '  ']"), "must not be blank"),
    ],
)
def test_bad_files_name_the_line(text: str, message: str) -> None:
    with pytest.raises(PackError) as caught:
        parse_intents(text, "f.yaml")
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_an_intent_defined_by_two_packs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD.replace("pack: bike", "pack: other"), encoding="utf-8")
    with pytest.raises(PackError, match="also in"):
        bundled_examples([tmp_path / "a.yaml", tmp_path / "b.yaml"])
