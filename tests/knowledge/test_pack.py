"""The pack format: validation with line-precise errors, round trips, and the bundled packs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from kefu.knowledge.pack import (
    PackError,
    default_pack_paths,
    dump_packs,
    load_pack,
    parse_pack,
    parse_packs,
)

GOOD = """\
pack: demo
version: 1
variables:
  hotline: "400-000-0000"
entries:
  - id: demo.deposit
    skill: bike
    question: {zh: "押金怎么退？", en: "How do I get my deposit back?"}
    similar: {zh: [退押金], en: [refund deposit]}
    keywords: {zh: [押金], en: [deposit]}
    answer:
      zh: "请致电 {{ hotline }}。"
      en: "Call {{ hotline }}."
"""


def test_valid_pack_parses() -> None:
    pack = parse_pack(GOOD, "demo.yaml")
    assert pack.entries[0].questions("zh") == ["押金怎么退？", "退押金"]


def test_missing_field_reports_its_line() -> None:
    bad = GOOD.replace("    skill: bike\n", "")
    with pytest.raises(PackError) as info:
        parse_pack(bad, "demo.yaml")
    assert info.value.problems == ["demo.yaml:6: entries.0.skill: Field required"]


def test_undefined_template_variable_reports_answer_line() -> None:
    bad = GOOD.replace('"Call {{ hotline }}."', '"Call {{ phone }}."')
    with pytest.raises(PackError) as info:
        parse_pack(bad, "demo.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("demo.yaml:13: entries.0.answer.en:")
    assert "phone" in problem


def test_broken_template_syntax_is_reported() -> None:
    bad = GOOD.replace('"Call {{ hotline }}."', '"Call {{ hotline ."')
    with pytest.raises(PackError, match="template error"):
        parse_pack(bad, "demo.yaml")


def test_duplicate_ids_reported_with_line() -> None:
    doc = yaml.safe_load(GOOD)
    doc["entries"].append(copy.deepcopy(doc["entries"][0]))  # a copy: aliases are refused
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    with pytest.raises(PackError, match="duplicate entry id") as info:
        parse_pack(text, "dup.yaml")
    assert ":1:" not in info.value.problems[0]


def test_yaml_syntax_error_has_line() -> None:
    with pytest.raises(PackError) as info:
        parse_pack("pack: demo\nentries: [\n  - x\n", "broken.yaml")
    assert info.value.problems[0].startswith("broken.yaml:")
    assert "invalid YAML" in info.value.problems[0]


def test_json_errors_have_lines() -> None:
    with pytest.raises(PackError, match=r"x\.json:2: invalid JSON"):
        parse_pack('{"pack": "demo",\n  "entries": [}', "x.json")
    doc = yaml.safe_load(GOOD)
    del doc["entries"][0]["answer"]
    with pytest.raises(PackError, match=r"x\.json:\d+: entries\.0\.answer: Field required"):
        parse_pack(json.dumps(doc, indent=2, ensure_ascii=False), "x.json")


def test_unknown_field_and_bad_id_rejected() -> None:
    with pytest.raises(PackError, match="Extra inputs"):
        parse_pack(
            GOOD.replace("    skill: bike\n", "    skill: bike\n    colour: red\n"), "a.yaml"
        )
    with pytest.raises(PackError, match=r"entries\.0\.id"):
        parse_pack(GOOD.replace("demo.deposit", "Demo Deposit!"), "a.yaml")


def test_not_a_mapping_and_empty_file() -> None:
    with pytest.raises(PackError, match="mapping"):
        parse_pack("- a\n- b\n", "a.yaml")
    with pytest.raises(PackError, match="no pack"):
        parse_pack("", "a.yaml")


def test_dump_and_parse_round_trip_yaml_and_json() -> None:
    pack = parse_pack(GOOD, "demo.yaml")
    other = pack.model_copy(update={"pack": "other"})
    for fmt in ("yaml", "json"):
        text = dump_packs([pack, other], fmt)  # type: ignore[arg-type]
        assert parse_packs(text, f"out.{fmt}") == [pack, other]


def test_unreadable_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="no such file"):
        load_pack(tmp_path / "missing.yaml")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PackError, match="not UTF-8"):
        load_pack(binary)


def test_bundled_packs_are_valid_and_big_enough() -> None:
    packs = {p.parent.name: load_pack(p) for p in default_pack_paths()}
    assert set(packs) >= {"bike", "lodging", "common"}
    assert len(packs["bike"].entries) >= 40
    assert len(packs["lodging"].entries) >= 40
    ids = [e.id for pack in packs.values() for e in pack.entries]
    assert len(ids) == len(set(ids))
    for pack in packs.values():
        for entry in pack.entries:
            assert len(entry.similar.zh) >= 3 and len(entry.similar.en) >= 3, entry.id
    common = {e.id: e for e in packs["common"].entries}
    assert {"common.greeting", "common.thanks", "common.goodbye", "common.human_agent"} <= set(
        common
    )
    assert common["common.human_agent"].action == "handoff"


def test_template_that_parses_but_cannot_render_is_refused() -> None:
    unsafe = GOOD.replace('"Call {{ hotline }}."', "\"{{ ''.__class__.__mro__ }}\"")
    with pytest.raises(PackError, match="fails to render"):
        parse_pack(unsafe, "a.yaml")
    missing_attr = GOOD.replace('"Call {{ hotline }}."', '"Call {{ hotline.area.code }}."')
    with pytest.raises(PackError, match="fails to render"):
        parse_pack(missing_attr, "a.yaml")


def test_json_list_with_one_pack_reports_real_lines() -> None:
    doc = yaml.safe_load(GOOD)
    del doc["entries"][0]["skill"]
    text = json.dumps([doc], indent=2, ensure_ascii=False)
    with pytest.raises(PackError) as info:
        parse_packs(text, "list.json")
    assert info.value.problems[0].startswith("list.json:")
    assert not info.value.problems[0].startswith("list.json:1:")
