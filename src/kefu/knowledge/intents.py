"""Intent training data: the YAML format packs ship (`skills/*/intents.yaml`), validated with
line-precise errors like the FAQ packs, and flattened into (text, label) examples."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator

from kefu.knowledge.pack import (
    LANGS,
    Localized,
    LocalizedList,
    PackError,
    _line_for,
    _line_index,
    _Strict,
    read_source,
)

OUT_OF_SCOPE = "out_of_scope"
INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


class IntentSpec(_Strict):
    name: str = Field(max_length=128)
    description: Localized | None = None
    examples: LocalizedList

    @field_validator("name")
    @classmethod
    def _name_format(cls, value: str) -> str:
        if not INTENT_NAME.match(value):
            raise ValueError(
                "must be lower-case words joined by '.' or '_', e.g. bike.report_fault"
            )
        return value


class IntentFile(_Strict):
    pack: str = Field(min_length=1, max_length=64)
    version: int = 1
    intents: list[IntentSpec]

    def examples(self) -> list[tuple[str, str]]:
        return [
            (text, intent.name)
            for intent in self.intents
            for lang in LANGS
            for text in intent.examples.get(lang)
        ]


def parse_intents(text: str, source: str = "<intents>") -> IntentFile:
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise PackError([f"{source}:{line}: invalid YAML: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise PackError([f"{source}:1: invalid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise PackError([f"{source}:1: an intents file is a mapping with 'pack' and 'intents'"])
    problems: list[tuple[tuple[object, ...], str]] = []
    parsed: IntentFile | None = None
    try:
        parsed = IntentFile.model_validate(data)
    except ValidationError as exc:
        problems = [(tuple(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
    if parsed is not None:
        seen: dict[str, int] = {}
        for index, intent in enumerate(parsed.intents):
            if intent.name in seen:
                problems.append((("intents", index, "name"), f"duplicate intent {intent.name!r}"))
            seen[intent.name] = index
            if not intent.examples.zh and not intent.examples.en:
                problems.append((("intents", index, "examples"), "needs at least one example"))
    if not problems and parsed is not None:
        return parsed
    lines = _line_index(yaml.compose(text, Loader=yaml.SafeLoader) or yaml.ScalarNode("", ""))
    raise PackError(
        [
            f"{source}:{_line_for(loc, lines)}: {'.'.join(str(p) for p in loc) or 'file'}: {msg}"
            for loc, msg in problems
        ]
    )


def load_intents(path: Path) -> IntentFile:
    return parse_intents(read_source(path), str(path))


def default_intent_paths() -> list[Path]:
    skills = Path(__file__).resolve().parent.parent / "skills"
    return sorted(skills.glob("*/intents.yaml"))


def bundled_examples(paths: Iterable[Path] | None = None) -> list[tuple[str, str]]:
    """(text, label) from the packs' intents files; later files can't redefine an intent."""
    out: list[tuple[str, str]] = []
    owner: dict[str, Path] = {}
    for path in paths if paths is not None else default_intent_paths():
        loaded = load_intents(path)
        for intent in loaded.intents:
            if intent.name in owner and intent.name != OUT_OF_SCOPE:
                raise PackError([f"{path}: intent {intent.name!r} is also in {owner[intent.name]}"])
            owner[intent.name] = path
        out += loaded.examples()
    return out
