"""Entity declarations of the packs (`skills/*/entities.yaml`): id patterns and gazetteers,
validated with line-precise errors, turned into what `EntityExtractor` takes.

    pack: bike
    version: 1
    patterns:
      - {type: bike_code, regex: '[BE]\\d{5,6}'}
    gazetteer:
      place: {朝阳门站: [朝阳门, Chaoyangmen Station]}

This is the I/O side: `kefu.understanding.entities` never reads files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import Field, field_validator

from kefu.knowledge.pack import PackError, _Strict, parse_side_file, read_source
from kefu.text.normalize import normalize
from kefu.understanding.entities import EntityPattern


class PatternSpec(_Strict):
    type: str = Field(min_length=1, max_length=32)
    regex: str = Field(min_length=1, max_length=500)

    def compile(self) -> EntityPattern:
        return EntityPattern(self.type, self.regex)


class GazetteerSpec(_Strict):
    place: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("place")
    @classmethod
    def _names(cls, places: dict[str, list[str]]) -> dict[str, list[str]]:
        for canonical, aliases in places.items():
            if not normalize(canonical) or any(not normalize(a) for a in aliases):
                raise ValueError(f"{canonical!r}: names and aliases must not be blank")
        return places


class EntityFile(_Strict):
    pack: str = Field(min_length=1, max_length=64)
    version: int = 1
    patterns: list[PatternSpec] = Field(default_factory=list)
    gazetteer: GazetteerSpec = Field(default_factory=GazetteerSpec)


Declarations = tuple[list[EntityPattern], dict[str, list[str]]]


def _problems(parsed: EntityFile) -> list[tuple[tuple[object, ...], str]]:
    problems: list[tuple[tuple[object, ...], str]] = []
    seen: set[tuple[str, str]] = set()
    for index, spec in enumerate(parsed.patterns):
        try:
            spec.compile()
        except ValueError as exc:
            problems.append((("patterns", index, "regex"), str(exc)))
        if (spec.type, spec.regex) in seen:
            problems.append((("patterns", index), f"duplicate pattern for {spec.type!r}"))
        seen.add((spec.type, spec.regex))
    owner: dict[str, str] = {}
    for canonical, aliases in parsed.gazetteer.place.items():
        for alias in (canonical, *aliases):
            key = normalize(alias)
            if owner.setdefault(key, canonical) != canonical:
                where = ("gazetteer", "place", canonical)
                problems.append((where, f"alias {alias!r} also names {owner[key]!r}"))
    return problems


def parse_entities(text: str, source: str = "<entities>") -> EntityFile:
    shape = "an entities file is a mapping with 'pack' and 'patterns'"
    return parse_side_file(text, source, EntityFile, shape, _problems)


def load_entities(path: Path) -> EntityFile:
    return parse_entities(read_source(path), str(path))


def default_entity_paths() -> list[Path]:
    skills = Path(__file__).resolve().parent.parent / "skills"
    return sorted(skills.glob("*/entities.yaml"))


def entity_declarations(paths: Iterable[Path] | None = None) -> Declarations:
    """(patterns, place gazetteer) of several packs, for `EntityExtractor(*declarations)`.
    Two packs may not give one alias to different places."""
    patterns: list[EntityPattern] = []
    places: dict[str, list[str]] = {}
    owner: dict[str, tuple[str, Path]] = {}
    problems: list[str] = []
    for path in paths if paths is not None else default_entity_paths():
        declared = load_entities(path)
        patterns += [spec.compile() for spec in declared.patterns]
        for canonical, aliases in declared.gazetteer.place.items():
            for alias in (canonical, *aliases):
                key = normalize(alias)
                first = owner.setdefault(key, (canonical, path))
                if first[0] != canonical:
                    problems.append(
                        f"{path}: alias {alias!r} of {canonical!r} also names {first[0]!r} "
                        f"in {first[1]}"
                    )
            places.setdefault(canonical, []).extend(_new(places.get(canonical, ()), aliases))
    if problems:
        raise PackError(problems)
    return patterns, places


def _new(known: Sequence[str], aliases: Sequence[str]) -> list[str]:
    return [alias for alias in aliases if alias not in known]
