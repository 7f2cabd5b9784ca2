"""Pack entity files: the bundled ones load; mistakes are reported with file and line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kefu.knowledge.entities import (
    default_entity_paths,
    entity_declarations,
    load_entities,
    parse_entities,
)
from kefu.knowledge.pack import PackError
from kefu.understanding.entities import EntityExtractor

NOW = dt.datetime(2026, 11, 24, 10, 0)


def test_bundled_packs_load_and_drive_the_extractor() -> None:
    paths = default_entity_paths()
    assert {p.parent.name for p in paths} >= {"bike", "lodging"}
    patterns, places = entity_declarations()
    assert {p.type for p in patterns} >= {"bike_code", "ride_id", "booking_id", "order_id"}
    assert 20 <= len(load_entities(paths[0]).gazetteer.place) <= 60
    extractor = EntityExtractor(patterns, places)
    found = [(e.type, e.value) for e in extractor.extract("BK20261124001 在朝陽門 B123456", NOW)]
    assert found == [
        ("booking_id", "BK20261124001"),
        ("place", "朝阳门站"),
        ("bike_code", "B123456"),
    ]


def test_a_bad_regex_names_file_and_line() -> None:
    text = (
        "pack: bike\n"
        "patterns:\n"
        "  - {type: bike_code, regex: 'B\\d{6}'}\n"
        "  - {type: ride_id, regex: '(R'}\n"
    )
    with pytest.raises(PackError) as caught:
        parse_entities(text, "bike/entities.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith("bike/entities.yaml:4: patterns.1.regex:")
    assert "does not compile" in problem


def test_unknown_keys_and_builtin_types_are_refused() -> None:
    text = "pack: bike\npatterns:\n  - {type: phone, regex: 'x'}\nextra: 1\n"
    with pytest.raises(PackError) as caught:
        parse_entities(text, "e.yaml")
    assert any("e.yaml:4: extra" in p for p in caught.value.problems)


def test_duplicate_patterns_and_aliases_are_reported() -> None:
    text = (
        "pack: bike\n"
        "patterns:\n"
        "  - {type: ride_id, regex: 'R\\d{12}'}\n"
        "  - {type: ride_id, regex: 'R\\d{12}'}\n"
        "gazetteer:\n"
        "  place:\n"
        "    国贸站: [国贸]\n"
        "    国贸商城: [國貿]\n"
    )
    with pytest.raises(PackError) as caught:
        parse_entities(text, "e.yaml")
    problems = caught.value.problems
    assert any(p.startswith("e.yaml:4: patterns.1: duplicate pattern") for p in problems)
    assert any("e.yaml:8:" in p and "also names '国贸站'" in p for p in problems)


def test_numbers_as_aliases_must_be_quoted() -> None:
    text = "pack: bike\ngazetteer:\n  place:\n    798艺术区: [798]\n"
    with pytest.raises(PackError, match=r"e\.yaml:4: gazetteer\.place\.798艺术区\.0"):
        parse_entities(text, "e.yaml")


def test_an_alias_claimed_by_two_packs_is_refused(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("pack: a\ngazetteer:\n  place:\n    首都机场T3: [首都机场]\n", "utf-8")
    second.write_text("pack: b\ngazetteer:\n  place:\n    首都国际机场: [首都機場]\n", "utf-8")
    with pytest.raises(PackError, match="also names '首都机场T3'"):
        entity_declarations([first, second])


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PackError, match=r"e\.yaml:3: invalid YAML"):
        parse_entities("pack: a\npatterns: [\n", "e.yaml")
    with pytest.raises(PackError, match="no such file"):
        load_entities(tmp_path / "missing.yaml")
