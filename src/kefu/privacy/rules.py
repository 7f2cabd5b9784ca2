"""Name rules of the packs (`skills/*/pii.yaml`): the names and cue phrases that mark a person's
name for `PiiDetector`, read and validated with line-precise errors.

    pack: lodging            # optional, as in the other side files
    version: 1
    pii:
      names: [张伟, Linda Wang]            # known names: staff, hosts, regular customers
      cues:
        zh: [我叫, 联系人]                  # a 2-4 character name right after one is a name
        en: [my name is, this is]          # and so are 1-3 capitalised words
      not_names: [Acme]                    # never a name after a cue: the operator's brand

This is the I/O side: `kefu.privacy.pii` never reads files.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kefu.knowledge.pack import parse_side_file, read_source
from kefu.privacy.pii import NameRules, PiiDetector


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CueSpec(_Strict):
    zh: list[str] = Field(default_factory=list, max_length=1000)
    en: list[str] = Field(default_factory=list, max_length=1000)

    @field_validator("zh", "en")
    @classmethod
    def _no_blank(cls, items: list[str]) -> list[str]:
        return _no_blank(items)


class PiiSpec(_Strict):
    names: list[str] = Field(default_factory=list, max_length=100_000)
    cues: CueSpec = Field(default_factory=CueSpec)
    not_names: list[str] = Field(default_factory=list, max_length=10_000)

    @field_validator("names", "not_names")
    @classmethod
    def _no_blank(cls, items: list[str]) -> list[str]:
        return _no_blank(items)


class PiiFile(_Strict):
    pack: str | None = Field(default=None, min_length=1, max_length=64)
    version: int = 1
    pii: PiiSpec


def _no_blank(items: list[str]) -> list[str]:
    for item in items:
        if not item.strip():
            raise ValueError("items must not be blank")
        if len(item) > 64:
            raise ValueError(f"{item[:20]!r}...: longer than 64 characters")
    return items


def parse_name_rules(text: str, source: str = "<pii>") -> NameRules:
    """NameRules from one file's text, or PackError with every problem as 'source:line: ...'."""
    parsed = parse_side_file(text, source, PiiFile, "a pii file is a mapping with a 'pii' key")
    pii = parsed.pii
    return NameRules(frozenset(pii.names), (*pii.cues.zh, *pii.cues.en), frozenset(pii.not_names))


def load_name_rules(paths: Iterable[Path]) -> NameRules:
    """The union of several files' rules: every name and not-name, every cue once (first file
    first)."""
    names: set[str] = set()
    cues: dict[str, None] = {}
    not_names: set[str] = set()
    for path in paths:
        rules = parse_name_rules(read_source(path), str(path))
        names |= rules.names
        cues.update(dict.fromkeys(rules.cues))
        not_names |= rules.not_names
    return NameRules(frozenset(names), tuple(cues), frozenset(not_names))


def default_pii_paths() -> list[Path]:
    skills = Path(__file__).resolve().parent.parent / "skills"
    return sorted(skills.glob("*/pii.yaml"))


@functools.cache
def pack_detector() -> PiiDetector:
    """The detector with the bundled packs' name rules: what every part of kefu masks with,
    read once per process."""
    return PiiDetector(load_name_rules(default_pii_paths()))
