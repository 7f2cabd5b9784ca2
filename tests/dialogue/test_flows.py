"""Flow files: structure and references checked, every problem named by file, line and step."""

from pathlib import Path

import pytest

from kefu.dialogue.flows import PackError, load_flows
from kefu.dialogue.skills import Skills
from kefu.knowledge.entities import entity_declarations
from kefu.knowledge.intents import default_intent_paths, load_intents
from kefu.knowledge.pack import default_pack_paths, load_packs
from kefu.understanding.entities import BUILTIN_TYPES


def test_the_bundled_flows_are_valid() -> None:
    skills = Skills.load()
    patterns, _ = entity_declarations()
    intents = {i.name for p in default_intent_paths() for i in load_intents(p).intents}
    faq = {e.id for p in default_pack_paths() for pack in load_packs(p) for e in pack.entries}
    assert skills.check({*BUILTIN_TYPES, *(p.type for p in patterns), "place"}, intents, faq) == []
    assert len(skills.flows) >= 18


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "flows.yaml"
    path.write_text("pack: x\nflows:\n" + body, encoding="utf-8")
    return path


def test_structure_errors_name_file_line_flow_and_step(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """  - name: x.demo
    description: {zh: 演示, en: Demo}
    steps:
      - id: ask_code
        ask: code
        entity: bike_code
      - id: both
        say: a.b
        call: backend.rides
""",
    )
    with pytest.raises(PackError) as info:
        load_flows(path)
    problems = info.value.problems
    assert any(
        p.startswith(f"{path}:6: flow x.demo step ask_code") and "needs a prompt" in p
        for p in problems
    ), problems
    assert any(
        p.startswith(f"{path}:9: flow x.demo step both") and "exactly one" in p for p in problems
    )


def test_a_goto_to_a_missing_step_and_a_repeated_id(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """  - name: x.demo
    description: {zh: 演示, en: Demo}
    steps:
      - id: one
        say: a.b
        next: nowhere
      - id: one
        end: resolved
""",
    )
    with pytest.raises(PackError) as info:
        load_flows(path)
    text = "\n".join(info.value.problems)
    assert "goes to 'nowhere', which is not a step" in text
    assert "step id 'one' repeats" in text


def test_bad_expressions_are_caught_at_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """  - name: x.demo
    description: {zh: 演示, en: Demo}
    steps:
      - id: pick
        branch: [{if: "slots.a ==", goto: done}]
        else: done
      - id: done
        end: resolved
""",
    )
    with pytest.raises(PackError, match="bad expression"):
        load_flows(path)


def test_references_are_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """  - name: x.demo
    description: {zh: 演示, en: Demo}
    triggers: {intents: [x.unknown], faq: [no.such.entry]}
    steps:
      - id: code
        ask: code
        entity: bike_kode
        prompt: no.such.response
      - id: act
        call: backend.teleport
      - id: sub
        flow: x.missing
""",
    )
    skills = Skills.load([path])
    problems = skills.check({"bike_code"}, {"bike.report_fault"}, {"bike.lost_item"})
    text = "\n".join(problems)
    for expected in (
        "triggered by intent 'x.unknown'",
        "triggered by FAQ entry 'no.such.entry'",
        "says 'no.such.response'",
        "entity type 'bike_kode'",
        "calls 'backend.teleport'",
        "starts flow 'x.missing'",
    ):
        assert expected in text
    assert all(p.startswith(str(path)) for p in problems)
    assert any(f"{path}:11: flow x.demo step act" in p for p in problems)


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "flows.yaml"
    path.write_text("flows: [\n", encoding="utf-8")
    with pytest.raises(PackError, match="invalid YAML"):
        load_flows(path)
