"""Knowledge packs: the YAML/JSON question-bank format, validated with line-precise errors.

A pack is what operators write and what `kefu kb import/export` reads and writes. Validation
happens here once; everything downstream works with the typed `KnowledgeEntry` objects.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
ENTRY_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,127}$")

TEMPLATES = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
# libyaml's safe loader when PyYAML has it: 7x faster than the pure-Python one, and the packs,
# flows and responses are read at every start. (Error lines come from the same marks.)
FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class AliasesRefused(yaml.MarkedYAMLError):
    """Knowledge files may not use YAML aliases: a few bytes of `*name` can stand for
    gigabytes once expanded (a "billion laughs" file), and packs don't need them."""


def _refuse_aliases(text: str) -> None:
    if "*" not in text:
        return
    try:
        for event in yaml.parse(text, Loader=FAST_LOADER):
            if isinstance(event, yaml.AliasEvent):
                raise AliasesRefused(
                    problem="aliases (*name) are not allowed in knowledge files; write the "
                    "values out",
                    problem_mark=event.start_mark,  # type: ignore[arg-type]
                )
    except AliasesRefused:
        raise
    except yaml.YAMLError:
        return  # a syntax error: the loader below reports it with its line


def _load(text: str, many: bool = False, aliases: bool = True) -> Any:
    """Parse fast; on an error, parse again with the pure-Python loader, whose messages and
    line numbers kefu has always reported (and tests pin). `aliases=False` for files that
    arrive over the admin API (packs): see AliasesRefused."""
    if not aliases:
        _refuse_aliases(text)
    try:
        if many:
            return list(yaml.load_all(text, Loader=FAST_LOADER))
        return yaml.load(text, Loader=FAST_LOADER)
    except yaml.YAMLError:
        return list(yaml.safe_load_all(text)) if many else yaml.safe_load(text)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(_Strict):
    zh: str = Field(min_length=1, max_length=4000)
    en: str = Field(min_length=1, max_length=4000)

    def get(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


class LocalizedList(_Strict):
    # Bounded, so no file or request can make an entry or intent of unbounded size.
    zh: list[Annotated[str, Field(max_length=4000)]] = Field(default_factory=list, max_length=5000)
    en: list[Annotated[str, Field(max_length=4000)]] = Field(default_factory=list, max_length=5000)

    def get(self, lang: Lang) -> list[str]:
        return self.zh if lang == "zh" else self.en

    @field_validator("zh", "en")
    @classmethod
    def _no_blank(cls, items: list[str]) -> list[str]:
        for item in items:
            if not item.strip():
                raise ValueError("items must not be blank")
        return items


Variable = str | Localized


class KnowledgeEntry(_Strict):
    """One FAQ: a standard question, its variants and keywords, and a templated answer."""

    id: str
    skill: str = Field(min_length=1, max_length=64)
    tags: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=50)
    question: Localized
    similar: LocalizedList = Field(default_factory=LocalizedList)
    keywords: LocalizedList = Field(default_factory=LocalizedList)
    answer: Localized
    action: Literal["handoff"] | None = None
    enabled: bool = True
    # Answered only on these days (inclusive, the deployment's time zone): a holiday notice,
    # a promotion. None: no limit on that side.
    valid_from: datetime.date | None = None
    valid_until: datetime.date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> KnowledgeEntry:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return self

    def valid_on(self, day: datetime.date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )

    @field_validator("id")
    @classmethod
    def _id_format(cls, value: str) -> str:
        if not ENTRY_ID.match(value):
            raise ValueError("must be lower-case letters, digits, '.', '_' or '-' (max 128)")
        return value

    def questions(self, lang: Lang) -> list[str]:
        return [self.question.get(lang), *self.similar.get(lang)]


class KnowledgePack(_Strict):
    pack: str = Field(min_length=1, max_length=64)
    version: int = Field(1, ge=1, le=2**31 - 1)
    variables: dict[str, Variable] = Field(default_factory=dict)
    entries: list[KnowledgeEntry]

    def problems(self) -> list[tuple[tuple[Any, ...], str]]:
        """Cross-field checks: unique ids and answer templates that render with the variables."""
        found: list[tuple[tuple[Any, ...], str]] = []
        seen: set[str] = set()
        for index, entry in enumerate(self.entries):
            if entry.id in seen:
                found.append((("entries", index, "id"), f"duplicate entry id {entry.id!r}"))
            seen.add(entry.id)
            for lang in LANGS:
                problem = template_problem(entry.answer.get(lang), self.variables, lang)
                if problem:
                    found.append((("entries", index, "answer", lang), problem))
        return found


def variables_for(variables: dict[str, Variable], lang: Lang) -> dict[str, str]:
    return {k: (v.get(lang) if isinstance(v, Localized) else v) for k, v in variables.items()}


def template_problem(source: str, variables: dict[str, Variable], lang: Lang) -> str | None:
    """Why this answer template can't be used, or None. It is rendered once here, so a
    template that parses but fails (unsafe attribute, missing key) is refused at import."""
    try:
        parsed = TEMPLATES.parse(source)
    except TemplateError as exc:
        return f"answer template error: {exc}"
    missing = meta.find_undeclared_variables(parsed) - set(variables)
    if missing:
        return f"answer uses undefined variable(s): {', '.join(sorted(missing))}"
    try:
        TEMPLATES.from_string(source).render(variables_for(variables, lang))
    except TemplateError as exc:  # SecurityError and UndefinedError are TemplateErrors
        return f"answer template fails to render: {exc}"
    return None


class PackError(ValueError):
    """A pack file that can't be read; `problems` are 'file:line: message' strings."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def _line_index(node: yaml.Node, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every path (keys / list indexes) in a composed YAML tree to its 1-based line."""
    lines = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines.update(_line_index(value_node, (*prefix, key)))
            lines[(*prefix, key)] = key_node.start_mark.line + 1  # point at the key, not value
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_line_index(item, (*prefix, index)))
    return lines


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int:
    path = tuple(loc)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def parse_packs(text: str, source: str = "<pack>") -> list[KnowledgePack]:
    """Parse YAML (one or more documents) or JSON (an object or a list of them) into validated
    packs, or raise PackError listing every problem as 'source:line: where: message'."""
    is_json = source.lower().endswith(".json")
    loaded: Any = None
    try:
        if is_json:
            loaded = json.loads(text)
            docs = loaded if isinstance(loaded, list) else [loaded]
        else:
            docs = [d for d in _load(text, many=True, aliases=False) if d is not None]
    except json.JSONDecodeError as exc:
        raise PackError([f"{source}:{exc.lineno}: invalid JSON: {exc.msg}"]) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise PackError([f"{source}:{line}: invalid YAML: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise PackError([f"{source}:1: invalid YAML: {exc}"]) from None
    if not docs:
        raise PackError([f"{source}:1: the file holds no pack"])
    packs: list[KnowledgePack] = []
    found: list[tuple[tuple[Any, ...], str]] = []
    many = len(docs) > 1 or (is_json and isinstance(loaded, list))
    for index, data in enumerate(docs):
        where: tuple[Any, ...] = (index,) if many else ()
        if not isinstance(data, dict):
            found.append((where, "a pack must be a mapping with 'pack' and 'entries'"))
            continue
        try:
            pack = KnowledgePack.model_validate(data)
        except ValidationError as exc:
            found += [
                ((*where, *e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()
            ]
            continue
        found += [((*where, *loc), msg) for loc, msg in pack.problems()]
        packs.append(pack)
    names = [p.pack for p in packs]
    for name in {n for n in names if names.count(n) > 1}:
        found.append(((), f"pack {name!r} appears more than once"))
    if not found:
        return packs
    raise PackError(
        [
            f"{source}:{_line_for(loc, _lines(text, many))}: "
            f"{'.'.join(str(p) for p in loc) or 'pack'}: {msg}"
            for loc, msg in found
        ]
    )


def _lines(text: str, many: bool) -> dict[tuple[Any, ...], int]:
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:  # JSON that PyYAML can't compose: report without lines
        return {}
    if len(nodes) == 1 and isinstance(nodes[0], yaml.SequenceNode):
        return _line_index(nodes[0])  # a JSON list of packs: paths start with the index
    if not many:
        return _line_index(nodes[0]) if nodes else {}
    lines: dict[tuple[Any, ...], int] = {}
    for index, node in enumerate(n for n in nodes if n is not None):
        lines.update(_line_index(node, (index,)))
    return lines


Problems = list[tuple[tuple[Any, ...], str]]
M = TypeVar("M", bound=BaseModel)


def parse_side_file(
    text: str,
    source: str,
    model: type[M],
    shape: str,
    checks: Callable[[M], Problems] = lambda _: [],
) -> M:
    """A pack's YAML side file (intents.yaml, entities.yaml): parsed, validated with `model`
    and `checks`, or PackError with every problem as 'source:line: where: message'."""
    try:
        data = _load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise PackError([f"{source}:{line}: invalid YAML: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise PackError([f"{source}:1: invalid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise PackError([f"{source}:1: {shape}"])
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        problems: Problems = [
            (tuple(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()
        ]
    else:
        problems = checks(parsed)
        if not problems:
            return parsed
    lines = _line_index(yaml.compose(text, Loader=yaml.SafeLoader) or yaml.ScalarNode("", ""))
    raise PackError(
        [
            f"{source}:{_line_for(loc, lines)}: {'.'.join(str(p) for p in loc) or 'file'}: {msg}"
            for loc, msg in problems
        ]
    )


def parse_pack(text: str, source: str = "<pack>") -> KnowledgePack:
    packs = parse_packs(text, source)
    if len(packs) != 1:
        raise PackError([f"{source}:1: expected one pack, found {len(packs)}"])
    return packs[0]


def read_source(path: Path) -> str:
    """A pack-like file's text, or PackError saying why it can't be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PackError([f"{path}: no such file"]) from None
    except UnicodeDecodeError as exc:
        raise PackError([f"{path}: not UTF-8 text ({exc.reason})"]) from None
    except OSError as exc:
        raise PackError([f"{path}: cannot read: {exc.strerror}"]) from None


def load_packs(path: Path) -> list[KnowledgePack]:
    return parse_packs(read_source(path), str(path))


def load_pack(path: Path) -> KnowledgePack:
    packs = load_packs(path)
    if len(packs) != 1:
        raise PackError([f"{path}:1: expected one pack, found {len(packs)}"])
    return packs[0]


def dump_packs(packs: list[KnowledgePack], fmt: Literal["yaml", "json"]) -> str:
    """One file for all packs: YAML documents separated by '---', or a JSON list."""
    data = [p.model_dump(mode="json") for p in packs]
    if fmt == "json":
        return json.dumps(data[0] if len(data) == 1 else data, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump_all(data, allow_unicode=True, sort_keys=False, width=100)


def default_pack_paths() -> list[Path]:
    skills = Path(__file__).resolve().parent.parent / "skills"
    return sorted(skills.glob("*/faq.yaml"))
