"""Canned responses: the tenant's own, or the bundled ones (canned.yaml) until it has any.

Their text is a Jinja2 template, but only a small part of the language is allowed: the
variables below and `{% if %}` on them (checked when a response is saved, and again before
rendering), in a sandbox, with the output capped. A loop or a huge repetition would make every
agent's request do the work, so they are refused. The customer's name is filled in only for
the agent who owns the chat (or a supervisor); others get it masked, as everywhere else.
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from kefu.conversations.models import Conversation, Customer
from kefu.dialogue.state import DialogueState
from kefu.errors import Conflict, InvalidInput, NotFound
from kefu.handoff.models import CannedResponse, Handoff, HandoffStatus
from kefu.handoff.reads import account_names
from kefu.privacy.pii import mask_value
from kefu.text.normalize import clean_display

if TYPE_CHECKING:
    from kefu.runtime import Runtime

_TEMPLATES = SandboxedEnvironment(autoescape=False)
VARIABLES = ("customer_name", "agent_name", "conversation")
_ALLOWED = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.If,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.Const,
)
MAX_RENDERED = 4000


def check_template(text: str) -> None:
    """Only {{ variable }} and {% if variable %}...{% else %}...{% endif %}; else InvalidInput."""
    try:
        tree = _TEMPLATES.parse(text)
    except TemplateSyntaxError as exc:
        raise InvalidInput(
            f"text: template error on line {exc.lineno}: {exc.message}", code="invalid_template"
        ) from None
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED):
            raise InvalidInput(
                f"text: only {{{{ variable }}}} and {{% if %}} are allowed, not "
                f"{type(node).__name__.lower()}",
                code="invalid_template",
            )
        if isinstance(node, nodes.Name) and node.name not in VARIABLES:
            raise InvalidInput(
                f"text: unknown variable {node.name!r}; use {', '.join(VARIABLES)}",
                code="invalid_template",
            )


def render(text: str, values: dict[str, Any]) -> str:
    """Fill a canned response; one that breaks the rules is shown as written."""
    try:
        check_template(text)
        return _TEMPLATES.from_string(text).render(values)[:MAX_RENDERED]
    except Exception:  # a broken template must not hide the others
        return text


@functools.cache
def _bundled_canned() -> list[dict[str, Any]]:
    data = yaml.safe_load((Path(__file__).with_name("canned.yaml")).read_text(encoding="utf-8"))
    return [{"id": f"default-{n}", **item} for n, item in enumerate(data, start=1)]


def canned(
    runtime: Runtime, account_id: int, conversation_id: uuid.UUID | None, override: bool = False
) -> list[dict[str, Any]]:
    """The tenant's canned responses (the bundled ones until it has its own), filled in."""
    with runtime.conversations.reads() as session:
        rows: list[dict[str, Any]] = [
            {"id": c.id, "title": c.title, "language": c.language, "text": c.text}
            for c in session.scalars(select(CannedResponse).order_by(CannedResponse.title))
        ]
        values: dict[str, Any] = {
            "agent_name": account_names(session, {account_id}).get(account_id, "")
        }
        language = None
        if conversation_id is not None:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                raise NotFound("conversation not found", code="conversation_not_found")
            language = conv.language
            ds = DialogueState.from_json(conv.dialogue)
            customer = session.get(Customer, conv.customer_id) if conv.customer_id else None
            name = (
                (ds.profile or {}).get("name")
                or ds.name
                or (customer.display_name if customer else "")
            ) or ""
            owner = session.scalar(
                select(Handoff.agent_id).where(
                    Handoff.conversation_id == conversation_id,
                    Handoff.status == HandoffStatus.ASSIGNED,
                )
            )
            reveal = override or owner == account_id
            values["customer_name"] = name if reveal or not name else mask_value("name", name)
            values["conversation"] = str(conv.id)[:8].upper()
    items = rows or _bundled_canned()
    if language is not None:
        items = [c for c in items if c["language"] == language] or items
    out = []
    for item in items:
        out.append({**item, "text": render(str(item["text"]), values)})
    return out


def create_canned(
    runtime: Runtime, title: str, language: str, text: str, skill: str | None
) -> dict[str, Any]:
    text = clean_display(text)
    if not text:
        raise InvalidInput("text must not be empty", code="empty_text")
    check_template(text)
    with runtime.conversations.sessions.begin() as session:
        row = CannedResponse(
            tenant_id=runtime.conversations.tenant_id,
            title=title,
            language=language,
            text=text,
            skill=skill,
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(
                f"a canned response titled {title!r} exists for {language}",
                code="canned_exists",
            ) from None
        return {"id": row.id, "title": title, "language": language, "text": text}


def delete_canned(runtime: Runtime, canned_id: int) -> None:
    with runtime.conversations.sessions.begin() as session:
        gone = session.execute(delete(CannedResponse).where(CannedResponse.id == canned_id))
        if not gone.rowcount:  # type: ignore[attr-defined]
            raise NotFound("no such canned response", code="canned_not_found")
