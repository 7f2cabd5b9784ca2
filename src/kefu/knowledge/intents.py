"""Intent training data: the YAML format packs ship (`skills/*/intents.yaml`), validated with
line-precise errors like the FAQ packs, and flattened into (text, label) examples."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import Field, field_validator

from kefu.knowledge.pack import (
    LANGS,
    Localized,
    LocalizedList,
    PackError,
    Problems,
    _Strict,
    parse_side_file,
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
    version: int = Field(1, ge=1, le=2**31 - 1)
    intents: list[IntentSpec]

    def examples(self) -> list[tuple[str, str]]:
        return [
            (text, intent.name)
            for intent in self.intents
            for lang in LANGS
            for text in intent.examples.get(lang)
        ]


def _problems(parsed: IntentFile) -> Problems:
    problems: Problems = []
    seen: dict[str, int] = {}
    for index, intent in enumerate(parsed.intents):
        if intent.name in seen:
            problems.append((("intents", index, "name"), f"duplicate intent {intent.name!r}"))
        seen[intent.name] = index
        if not intent.examples.zh and not intent.examples.en:
            problems.append((("intents", index, "examples"), "needs at least one example"))
    return problems


def parse_intents(text: str, source: str = "<intents>") -> IntentFile:
    shape = "an intents file is a mapping with 'pack' and 'intents'"
    return parse_side_file(text, source, IntentFile, shape, _problems)


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
