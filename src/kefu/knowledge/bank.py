"""The in-memory knowledge base the pipeline answers from: entries plus template variables."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from jinja2 import Template

from kefu.knowledge.pack import LANGS, TEMPLATES, KnowledgeEntry, Lang, Variable, variables_for


@dataclass(frozen=True)
class PackInfo:
    name: str
    variables: Mapping[str, Variable] = field(default_factory=dict)


@functools.lru_cache(maxsize=20_000)
def compiled(source: str) -> Template:
    """Compiled answer templates by source: a knowledge change rebuilds the knowledge base, and
    compiling every unchanged answer again cost seconds on a large one. Templates are
    immutable, so sharing them is safe."""
    return TEMPLATES.from_string(source)


class KnowledgeBase:
    """Entries by id with precompiled answer templates (compiled once, rendered per reply)."""

    def __init__(
        self,
        entries: Sequence[tuple[KnowledgeEntry, PackInfo]],
        revision: int = 0,
        vectors: Mapping[str, tuple[str, bytes]] | None = None,
    ):
        self.revision = revision
        # Stored question vectors by entry id: (vectors_key, float32 bytes).
        self.vectors: dict[str, tuple[str, bytes]] = dict(vectors or {})
        self.entries: dict[str, KnowledgeEntry] = {}
        self._templates: dict[tuple[str, Lang], Template] = {}
        self._variables: dict[tuple[str, Lang], dict[str, str]] = {}
        for entry, pack in entries:
            self.entries[entry.id] = entry
            for lang in LANGS:
                self._templates[(entry.id, lang)] = compiled(entry.answer.get(lang))
                self._variables[(entry.id, lang)] = variables_for(dict(pack.variables), lang)

    @property
    def skills(self) -> list[str]:
        # Domain skills first; the shared small-talk pack ("common") reads best last.
        return sorted(
            {e.skill for e in self.entries.values() if e.enabled}, key=lambda s: (s == "common", s)
        )

    def render(self, entry_id: str, lang: Lang) -> str:
        return self._templates[(entry_id, lang)].render(self._variables[(entry_id, lang)])
