"""Skills as the dialogue sees them: every pack's flows, responses and actions, loaded once per
process and checked against each other (`kefu flows validate`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from kefu.dialogue.actions import Actions
from kefu.dialogue.flows import (
    TEXT_SLOT,
    YES_NO,
    Flow,
    FlowPack,
    PackError,
    default_flow_paths,
    line_of,
    load_flows,
)
from kefu.dialogue.responses import Responses


@dataclass
class Skills:
    flows: dict[str, Flow]
    responses: Responses
    actions: Actions
    sources: dict[str, Path] = field(default_factory=dict)  # flow name -> its file
    by_intent: dict[str, str] = field(default_factory=dict)
    by_faq: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for flow in self.flows.values():
            for intent in flow.triggers.intents:
                self.by_intent.setdefault(intent, flow.name)
            for entry in flow.triggers.faq:
                self.by_faq.setdefault(entry, flow.name)

    @classmethod
    def empty(cls) -> Skills:
        return cls({}, Responses([]), Actions())

    @classmethod
    def load(
        cls,
        flow_paths: Sequence[Path] | None = None,
        response_paths: Sequence[Path] | None = None,
    ) -> Skills:
        """Load and check; raise PackError listing every problem ('file:line: ...')."""
        problems: list[str] = []
        packs: list[tuple[Path, FlowPack]] = []
        for path in default_flow_paths() if flow_paths is None else flow_paths:
            try:
                packs.append((path, load_flows(path)))
            except PackError as exc:
                problems.extend(exc.problems)
        responses = Responses([])
        try:
            responses = Responses.load(response_paths)
        except PackError as exc:
            problems.extend(exc.problems)
        if problems:
            raise PackError(problems)
        flows: dict[str, Flow] = {}
        sources: dict[str, Path] = {}
        for path, pack in packs:
            for flow in pack.flows:
                if flow.name in flows:
                    problems.append(
                        f"{path}:{line_of(path, flow.name, None)}: flow {flow.name}: "
                        f"also defined in {sources[flow.name]}"
                    )
                flows[flow.name] = flow
                sources[flow.name] = path
        if problems:
            raise PackError(problems)
        return cls(flows, responses, Actions(), sources)

    def flow_for_intent(self, intent: str | None) -> str | None:
        return self.by_intent.get(intent) if intent else None

    def flow_for_faq(self, entry_id: str) -> str | None:
        return self.by_faq.get(entry_id)

    def check(
        self,
        entity_types: Iterable[str] = (),
        intents: Iterable[str] | None = None,
        faq_ids: Iterable[str] | None = None,
    ) -> list[str]:
        """Cross-references: every response, action, sub-flow, entity type, intent and FAQ
        entry a flow names must exist. Returns 'file:line: flow X step Y: message' problems."""
        known_types = {*entity_types, TEXT_SLOT, YES_NO}
        intent_set = set(intents) if intents is not None else None
        faq_set = set(faq_ids) if faq_ids is not None else None
        problems: list[str] = []
        for name, flow in self.flows.items():
            path = self.sources.get(name, Path("<flows>"))

            def problem(step: str | None, message: str, _f: str = name, _p: Path = path) -> None:
                where = f"flow {_f}" + (f" step {step}" if step else "")
                problems.append(f"{_p}:{line_of(_p, _f, step)}: {where}: {message}")

            for intent in flow.triggers.intents:
                if intent_set is not None and intent not in intent_set:
                    problem(None, f"triggered by intent {intent!r}, which no intents.yaml declares")
            for entry in flow.triggers.faq:
                if faq_set is not None and entry not in faq_set:
                    problem(None, f"triggered by FAQ entry {entry!r}, which no pack has")
            for step in flow.steps:
                for response in step.responses():
                    if response not in self.responses:
                        problem(step.id, f"says {response!r}, which no responses.yaml defines")
                if step.call and step.call not in self.actions:
                    problem(step.id, f"calls {step.call!r}, which is not an action")
                if step.flow and step.flow not in self.flows:
                    problem(step.id, f"starts flow {step.flow!r}, which does not exist")
                for entity_type in step.entity:
                    if entity_type not in known_types:
                        problem(step.id, f"asks for entity type {entity_type!r}, which is unknown")
        return problems


@cache
def load_skills() -> Skills:
    """The bundled skills, loaded once per process (every worker shares them read-only)."""
    return Skills.load()
