"""Responses: what the bot says, as Jinja2 templates per language with several variants.

`skills/*/responses.yaml` maps a response name to its text variants in zh and en, optional
`upset` variants (said instead when the customer is angry or very negative: an apology and a
shorter path, never a cheerful greeting), and rich parts: `quick_replies`, a `card` with fields
and buttons, and `links`. Variants rotate with the turn number, so a conversation doesn't hear
the same sentence twice in a row and a story replays identically.

Templates are compiled once, in a sandbox, with strict undefined variables: a typo in a
template fails `kefu flows validate`, not a customer's conversation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kefu.knowledge.pack import PackError, Problems, parse_side_file, read_source

Lang = Literal["zh", "en"]
Tone = Literal["neutral", "upset"]


def _money(cents: Any, lang: str = "zh") -> str:
    try:
        amount = int(cents) / 100
    except (TypeError, ValueError):
        return str(cents)
    return f"{amount:.2f}元" if lang == "zh" else f"¥{amount:.2f}"


def _when(value: Any, lang: str = "zh", tz: str = "Asia/Shanghai") -> str:
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(moment, dt.datetime):
        return str(value)
    local = moment.astimezone(ZoneInfo(tz)) if moment.tzinfo else moment
    return local.strftime("%m月%d日 %H:%M" if lang == "zh" else "%b %d, %H:%M")


ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def _conceal(value: Any) -> str:
    """An order id with its last four hidden ("BK202611240****"): the bot must not hand out
    what identity verification asks for (the last four of an order number)."""
    text = str(value or "")
    return text[:-4] + "****" if len(text) > 4 else "****"


ENV.filters["money"] = _money
ENV.filters["conceal"] = _conceal
ENV.filters["when"] = _when


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variants(_Strict):
    zh: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)

    @field_validator("zh", "en", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def get(self, lang: str) -> list[str]:
        return self.zh if lang == "zh" else self.en


class Text(_Strict):
    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class QuickReply(_Strict):
    title: Text
    send: Text | None = None  # what choosing it sends; default: the title
    action: Literal["send", "handoff"] = "send"


class Field_(_Strict):
    label: Text
    value: str  # template


class Button(_Strict):
    title: Text
    url: str | None = None  # template; otherwise the button sends its title
    send: Text | None = None


class Card(_Strict):
    title: Text
    fields: list[Field_] = Field(default_factory=list)
    buttons: list[Button] = Field(default_factory=list)


class Link(_Strict):
    title: Text
    url: str


class Response(_Strict):
    zh: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)
    upset: Variants | None = None
    quick_replies: list[QuickReply] = Field(default_factory=list)
    card: Card | None = None
    links: list[Link] = Field(default_factory=list)

    @field_validator("zh", "en", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def sources(self) -> Iterable[str]:
        yield from self.zh
        yield from self.en
        if self.upset:
            yield from self.upset.zh
            yield from self.upset.en
        if self.card:
            yield from (f.value for f in self.card.fields)
            yield from (b.url for b in self.card.buttons if b.url)
        yield from (link.url for link in self.links)


class ResponsePack(_Strict):
    pack: str
    version: int = 1
    responses: dict[str, Response]


def _templates_compile(pack: ResponsePack) -> Problems:
    problems: Problems = []
    for name, response in pack.responses.items():
        for source in response.sources():
            try:
                ENV.from_string(source)
            except TemplateError as exc:
                problems.append((("responses", name), f"template error: {exc}"))
    return problems


def load_responses(path: Path) -> ResponsePack:
    return parse_side_file(
        read_source(path),
        str(path),
        ResponsePack,
        "a responses file is a mapping",
        _templates_compile,
    )


def default_response_paths() -> list[Path]:
    skills = Path(__file__).resolve().parent.parent / "skills"
    return sorted(skills.glob("*/responses.yaml"))


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    payload: dict[str, Any] = field(default_factory=dict)


class Responses:
    """Every loaded response, compiled; `render` picks the variant and fills it."""

    def __init__(self, packs: Iterable[ResponsePack]) -> None:
        self.responses: dict[str, Response] = {}
        self._compiled: dict[str, Template] = {}
        for pack in packs:
            self.responses.update(pack.responses)

    @classmethod
    def load(cls, paths: Iterable[Path] | None = None) -> Responses:
        problems: list[str] = []
        packs = []
        for path in default_response_paths() if paths is None else paths:
            try:
                packs.append(load_responses(path))
            except PackError as exc:
                problems.extend(exc.problems)
        if problems:
            raise PackError(problems)
        return cls(packs)

    def __contains__(self, name: str) -> bool:
        return name in self.responses

    def has_upset(self, name: str) -> bool:
        response = self.responses.get(name)
        return response is not None and response.upset is not None

    def _template(self, source: str) -> Template:
        compiled = self._compiled.get(source)
        if compiled is None:
            compiled = self._compiled[source] = ENV.from_string(source)
        return compiled

    def fill(self, source: str, context: Mapping[str, Any]) -> str:
        return self._template(source).render(context)

    def render(
        self,
        name: str,
        lang: str,
        context: Mapping[str, Any],
        *,
        turn: int = 0,
        tone: Tone = "neutral",
    ) -> Rendered:
        response = self.responses[name]
        variants = response.upset.get(lang) if tone == "upset" and response.upset else None
        variants = variants or (response.zh if lang == "zh" else response.en)
        text = self.fill(variants[turn % len(variants)], context).strip()
        payload: dict[str, Any] = {"response": name}
        if response.quick_replies:
            payload["quick_replies"] = [
                {
                    "title": q.title.get(lang),
                    "send": (q.send or q.title).get(lang),
                    **({"action": q.action} if q.action != "send" else {}),
                }
                for q in response.quick_replies
            ]
        if response.card:
            card = response.card
            payload["card"] = {
                "title": card.title.get(lang),
                "fields": [
                    {"label": f.label.get(lang), "value": self.fill(f.value, context)}
                    for f in card.fields
                ],
                "buttons": [
                    {
                        "title": b.title.get(lang),
                        **({"url": self.fill(b.url, context)} if b.url else {}),
                        **({"send": b.send.get(lang)} if b.send else {}),
                    }
                    for b in card.buttons
                ],
            }
        if response.links:
            payload["links"] = [
                {"title": link.title.get(lang), "url": self.fill(link.url, context)}
                for link in response.links
            ]
        return Rendered(text, payload)
