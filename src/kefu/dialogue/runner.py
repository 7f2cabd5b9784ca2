"""Runs flows: fills slots, calls actions, branches, says responses, hands off, ends.

A turn is a `Turn`: the Parse, the conversation's `DialogueState` (mutated in place), the replies
said so far, the effects to persist with the turn (tickets, a handoff) and a trace of what was
done (responses, slots, actions) that stories check and the turn event records.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from kefu.backends.base import BackendError
from kefu.dialogue import context as ctx
from kefu.dialogue.actions import ActionContext, Actions
from kefu.dialogue.flows import TEXT_SLOT, YES_NO, Flow, Step, compile_expression
from kefu.dialogue.responses import Responses, Tone
from kefu.dialogue.state import MAX_DEPTH, DialogueState, Frame, Option, Slot
from kefu.understanding.parse import Parse

logger = logging.getLogger(__name__)
SHORT = 16  # characters: a position ("第二个", "the second one") in a longer message is chatter
MAX_STEPS = 40  # per turn: a flow that loops without asking anything is a bug, not a wait


@dataclass
class Turn:
    parse: Parse
    state: DialogueState
    tone: Tone = "neutral"
    replies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    effects: list[dict[str, Any]] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)  # names said, in order
    actions: list[dict[str, Any]] = field(default_factory=list)
    filled: dict[str, Any] = field(default_factory=dict)
    handoff: dict[str, Any] | None = None
    outcome: str | None = None  # how a flow ended this turn

    @property
    def lang(self) -> str:
        return self.parse.language


class FlowRunner:
    def __init__(
        self,
        flows: dict[str, Flow],
        responses: Responses,
        actions: Actions,
        backend: Any = None,
    ) -> None:
        self.flows = flows
        self.responses = responses
        self.actions = actions
        self.backend = backend

    # -- saying things --------------------------------------------------------------------

    def context(self, turn: Turn, frame: Frame | None = None, **more: Any) -> dict[str, Any]:
        state = turn.state
        values: dict[str, Any] = {
            "lang": turn.lang,
            "customer": state.customer,
            "name": (state.profile or {}).get("name") or state.name,
            "profile": state.profile or {},
            "tier": (state.profile or {}).get("tier"),  # basic, plus, vip; None: unknown
            "verified": state.verified,
            "slots": {},
            "said": {},
        }
        if frame is not None:
            values.update(frame.vars)
            values["slots"] = {k: s.value for k, s in frame.slots.items()}
            values["said"] = {k: s.text for k, s in frame.slots.items()}
        values.update(more)
        return values

    def say(self, turn: Turn, name: str, frame: Frame | None = None, **more: Any) -> None:
        rendered = self.responses.render(
            name, turn.lang, self.context(turn, frame, **more), turn=turn.state.turn, tone=turn.tone
        )
        turn.replies.append((rendered.text, rendered.payload))
        turn.responses.append(name)

    def evaluate(self, source: str, turn: Turn, frame: Frame, **more: Any) -> Any:
        return compile_expression(source)(**self.context(turn, frame, **more))

    # -- starting and resuming ------------------------------------------------------------

    def start(self, turn: Turn, name: str, sub: bool = False) -> None:
        """Start flow `name` on top of the stack. `sub`: called by the active flow's `flow:`
        step, so it shares the caller's slots and returns its own; otherwise it interrupts
        the active flow (a switch) and shares nothing."""
        state = turn.state
        if not sub:
            for depth, frame in enumerate(state.frames):
                if frame.flow == name:  # already under way: go back to it, don't nest a copy
                    del state.frames[depth + 1 :]
                    self.resume(turn)
                    return
        elif _call_depth(state.frames) >= MAX_DEPTH:
            raise RuntimeError(f"flows nested more than {MAX_DEPTH} deep at {name}")
        # A full stack is a customer hopping between topics: the oldest flow left waiting goes
        # (never one of the active call chain, which is shorter than MAX_DEPTH here).
        del state.frames[: max(0, len(state.frames) - MAX_DEPTH + 1)]
        flow = self.flows[name]
        frame = Frame(flow=name, step=flow.steps[0].id, started=state.turn, sub=sub)
        parent = state.active
        if sub and parent is not None:  # a sub-flow knows what its caller already knows
            frame.slots.update(parent.slots)
            frame.vars.update(parent.vars)
        state.frames.append(frame)
        self._prefill(turn, flow, frame)
        self.run(turn)

    def _prefill(self, turn: Turn, flow: Flow, frame: Frame) -> None:
        """Slots the message that started the flow already answers ("B654321 刹车坏了")."""
        for step in flow.steps:
            if step.ask and step.ask not in frame.slots and not step.options:
                value = self._value(turn, step, frame, allow_text=False)
                if value is not None and self._valid(turn, step, frame, value):
                    self._fill(turn, frame, step.ask, value)

    def answer(self, turn: Turn) -> bool:
        """Give the customer's message to the active flow's waiting ask step. False when it
        doesn't answer it (the policy then tries a digression)."""
        frame = turn.state.active
        assert frame is not None
        flow = self.flows[frame.flow]
        step = flow.step(frame.step)
        if self._correct(turn, flow, frame):
            return True
        if not step.ask:
            self.run(turn)
            return True
        value = self._value(turn, step, frame, allow_text=True)
        if value is None or not self._valid(turn, step, frame, value):
            return False
        self._fill(turn, frame, step.ask, value)
        frame.tries = 0
        frame.step = flow.after(step.id) or step.id
        if flow.after(step.id) is None:
            self.finish(turn, "resolved")
            return True
        self.run(turn)
        return True

    def waiting_for(self, turn: Turn) -> Step | None:
        """The ask step the active flow waits on, if any."""
        frame = turn.state.active
        if frame is None:
            return None
        step = self.flows[frame.flow].step(frame.step)
        return step if step.ask else None

    def reprompt(self, turn: Turn) -> None:
        """The message didn't answer the question: ask again, or offer a person."""
        frame = turn.state.active
        assert frame is not None
        step = self.flows[frame.flow].step(frame.step)
        frame.tries += 1
        if frame.tries >= step.max_tries:
            self.say(turn, "common.flow.too_many_tries", frame)
            self.finish(turn, "failed")
            return
        self.say(turn, step.reprompt or step.prompt or "common.flow.reprompt", frame)
        self._offer_options(turn, step, frame)

    def resume(self, turn: Turn) -> None:
        """After a digression: ask the waiting question again."""
        frame = turn.state.active
        if frame is None:
            return
        step = self.flows[frame.flow].step(frame.step)
        if step.ask:
            self.say(turn, "common.flow.resume", frame)
            self.say(turn, step.prompt or "common.flow.reprompt", frame)
            self._offer_options(turn, step, frame)

    def cancel(self, turn: Turn) -> None:
        self.say(turn, "common.flow.cancelled", turn.state.active)
        while turn.state.frames:
            self.finish(turn, "cancelled", quiet=True)

    def finish(self, turn: Turn, outcome: str, quiet: bool = False) -> None:
        frame = turn.state.frames.pop()
        turn.outcome = outcome
        turn.state.options, turn.state.options_slot = [], None
        turn.state.remember({"turn": turn.state.turn, "flow": frame.flow, "outcome": outcome})
        if turn.state.frames and not quiet and outcome in ("resolved", "failed", "cancelled"):
            parent = turn.state.frames[-1]
            parent_flow = self.flows[parent.flow]
            if parent_flow.step(parent.step).kind == "flow":  # it called this one: carry on
                # A sub-flow returns what it learnt: its slots and results join the caller's.
                parent.vars["last_outcome"] = outcome
                for name, slot in frame.slots.items():
                    parent.slots.setdefault(name, slot)
                parent.vars.update({k: v for k, v in frame.vars.items() if k != "last_outcome"})
                parent.step = parent_flow.after(parent.step) or parent.step
                self.run(turn)
            else:  # this one interrupted it at a question: ask that again
                self.resume(turn)

    # -- the step machine -----------------------------------------------------------------

    def run(self, turn: Turn) -> None:
        for _ in range(MAX_STEPS):
            frame = turn.state.active
            if frame is None:
                return
            flow = self.flows[frame.flow]
            step = flow.step(frame.step)
            nxt = self._do(turn, flow, frame, step)
            if nxt == "wait" or turn.state.active is not frame:
                return
            if nxt is None:
                self.finish(turn, "resolved")
                return
            frame.step = nxt
        active = turn.state.active
        logger.error(
            "flow %s ran %d steps without waiting at %s: stopped",
            active.flow if active else None,
            MAX_STEPS,
            active.step if active else None,
        )
        self.say(turn, "common.backend_error.unavailable", None, ticket=None)
        self.finish(turn, "failed")

    def _do(self, turn: Turn, flow: Flow, frame: Frame, step: Step) -> str | None:
        """Run one step; return the next step id, None at the end, or 'wait' for input."""
        after = flow.after(step.id)
        kind = step.kind
        if kind == "ask":
            assert step.ask is not None
            if step.ask in frame.slots:
                return after
            if step.options is not None and step.options.auto_single:
                items = list(self.evaluate(step.options.items, turn, frame) or [])
                if len(items) == 1:  # one booking, one ride: nothing to choose
                    value = self.evaluate(step.options.value, turn, frame, item=items[0])
                    self._fill(turn, frame, step.ask, value)
                    return after
            self.say(turn, step.prompt or "common.flow.reprompt", frame)
            self._offer_options(turn, step, frame)
            return "wait"
        if kind == "say":
            assert step.say is not None
            self.say(turn, step.say, frame)
            return after
        if kind == "call":
            return self._call(turn, flow, frame, step, after)
        if kind == "branch":
            assert step.branch is not None
            for branch in step.branch:
                if self.evaluate(branch.if_, turn, frame):
                    return branch.goto
            return step.else_
        if kind == "flow":
            assert step.flow is not None
            frame.step = step.id
            self.start(turn, step.flow, sub=True)
            return "wait"  # the sub-flow runs; finishing it moves this frame on
        if kind == "handoff":
            if step.say:
                self.say(turn, step.say, frame)
            turn.handoff = {"reason": step.handoff, "priority": step.priority, "flow": flow.name}
            turn.state.keep_for_agent()
            while turn.state.frames:
                self.finish(turn, "handed_off", quiet=True)
            return "wait"
        if kind == "end":
            assert step.end is not None
            if step.say:
                self.say(turn, step.say, frame)
            self.finish(turn, step.end)
            return "wait"
        raise AssertionError(kind)

    def _call(
        self, turn: Turn, flow: Flow, frame: Frame, step: Step, after: str | None
    ) -> str | None:
        assert step.call is not None
        args = {
            k: self.evaluate(v, turn, frame) if isinstance(v, str) else v
            for k, v in step.args.items()
        }
        record: dict[str, Any] = {"action": step.call, "args": sorted(args)}
        turn.actions.append(record)
        action_ctx = ActionContext(self.backend, turn.state, turn.lang, turn.parse.text)
        try:
            result = self.actions.run(step.call, action_ctx, args)
        except BackendError as exc:
            record["error"] = exc.kind
            # The operator's message may quote customer data: log the kind, not the text.
            logger.info("action %s failed: %s", step.call, exc.kind)
            frame.vars["error"] = {"kind": exc.kind, "message": exc.message}
            if step.on_error:
                return step.on_error
            return self._backend_failed(turn, flow, frame, step, exc)
        record["ok"] = True
        if step.save:
            frame.vars[step.save] = result
        return after

    def _backend_failed(
        self, turn: Turn, flow: Flow, frame: Frame, step: Step, exc: BackendError
    ) -> str:
        if exc.kind == "not_found":
            # Usually a mistyped id: ask for it again rather than giving up.
            sources = " ".join(v for v in step.args.values() if isinstance(v, str))
            for name in re.findall(r"slots\.(\w+)", sources):
                ask = next((s for s in flow.steps if s.ask == name), None)
                # Only an id the customer typed can be "not found"; free text can't be wrong.
                if (
                    ask is not None
                    and name in frame.slots
                    and set(ask.entity) - {TEXT_SLOT, YES_NO}
                    and str(frame.slots[name].value).lower() in exc.message.lower()
                ):
                    # The id and everything answered after it (a confirmation) go.
                    later = [s.ask for s in flow.steps[flow.index(ask.id) :] if s.ask]
                    for slot in later:
                        frame.slots.pop(slot, None)
                    frame.tries += 1
                    if frame.tries >= ask.max_tries:
                        break
                    self.say(turn, "common.backend_error.not_found", frame)
                    frame.step = ask.id
                    self.say(turn, ask.reprompt or ask.prompt or "common.flow.reprompt", frame)
                    return "wait"
        # The operator's system failed us: never silence, never a trace. A kefu-side ticket
        # keeps the request so a person follows it up.
        ticket = f"KF{uuid.uuid4().hex[:8].upper()}"
        turn.effects.append(
            {
                "kind": "ticket",
                "ticket_id": ticket,
                "topic": flow.name,
                "reason": f"backend_{exc.kind}",
                "detail": {"action": step.call, "error": exc.kind, "step": step.id},
            }
        )
        kind = exc.kind if exc.kind in ("timeout", "refused") else "unavailable"
        self.say(turn, f"common.backend_error.{kind}", frame, ticket=ticket)
        self.finish(turn, "failed", quiet=True)
        turn.state.frames.clear()
        return "wait"

    # -- slots ----------------------------------------------------------------------------

    def _offer_options(self, turn: Turn, step: Step, frame: Frame) -> None:
        state = turn.state
        state.options, state.options_slot = [], None
        if step.options is None and not step.choices:
            return
        options: list[Option] = []
        if step.options is not None:
            items = self.evaluate(step.options.items, turn, frame) or []
            for item in list(items)[: step.options.limit]:
                title = self.responses.render(
                    step.options.title, turn.lang, self.context(turn, frame, item=item)
                ).text
                value = self.evaluate(step.options.value, turn, frame, item=item)
                options.append(Option(title=title, value=str(value)))
        elif step.choices:
            for value, synonyms in step.choices.items():
                words = synonyms.get(turn.lang)
                options.append(Option(title=words[0] if words else value, value=value))
        state.options, state.options_slot = options, step.ask
        if (
            options
            and turn.replies
            and not (step.choices and turn.replies[-1][1].get("quick_replies"))
        ):
            # The prompt's own quick replies, when it has them, read better than synonyms.
            text, payload = turn.replies[-1]
            payload = {
                **payload,
                "quick_replies": [{"title": o.title, "send": o.title} for o in options],
            }
            turn.replies[-1] = (text, payload)

    def _value(self, turn: Turn, step: Step, frame: Frame, allow_text: bool) -> Any:
        parse = turn.parse
        norm = parse.normalized
        state = turn.state
        if step.choices:  # a named choice beats a number in passing ("试到第三次才锁上")
            found = self._choice(step, norm)
            if found is not None:
                return found
        if state.options and state.options_slot == step.ask and allow_text:
            picked = self.pick_option(turn)
            if picked is not None:
                return picked
        for entity_type in step.entity:
            if entity_type == YES_NO:
                if allow_text:
                    # Words, not the affirm/deny intents: an irreversible step (a refund, a
                    # cancellation) waits for an unmistakable answer.
                    answer = ctx.yes_no(norm)
                    if answer is not None:
                        return answer
                continue
            if entity_type == TEXT_SLOT:
                # Free text takes anything but a question the FAQ can answer: that is a
                # digression ("is there parking?" while asked where they come from).
                if allow_text and not (parse.faq_outcome == "answer" and ctx.is_question(norm)):
                    return parse.text.strip()
                continue
            for entity in parse.entities:
                if entity.type == entity_type:
                    return entity.value
        return None

    def pick_option(self, turn: Turn) -> str | None:
        """The option the message picks: its title or value, an id in passing, or a position
        ("第二个", "the 2nd one") in a short message."""
        options = turn.state.options
        norm = turn.parse.normalized.strip()
        for option in options:
            value = option.value.lower()
            if norm in (option.title.lower(), value):
                return option.value
            if any(c.isdigit() for c in value) and len(value) >= 5 and value in norm:
                return option.value  # "R202611230001 那次"
        position = ctx.ordinal(norm) if len(norm) <= SHORT else None
        if position is not None and options:
            if position == -1:
                return options[-1].value
            if 1 <= position <= len(options):
                return options[position - 1].value
        return None

    @staticmethod
    def _choice(step: Step, norm: str) -> str | None:
        assert step.choices is not None
        best: tuple[int, str] | None = None
        for value, synonyms in step.choices.items():
            for word in [value, *synonyms.zh, *synonyms.en]:
                word = str(word).lower()
                if not word:
                    continue
                # Latin words match whole ("lock" is not in "unlock"); Chinese anywhere.
                found = (
                    re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", norm)
                    if word.isascii()
                    else word in norm
                )
                if found and (best is None or len(word) > best[0]):
                    best = (len(word), value)
        return best[1] if best else None

    def _valid(self, turn: Turn, step: Step, frame: Frame, value: Any) -> bool:
        if not step.validate_:
            return True
        try:
            return bool(self.evaluate(step.validate_, turn, frame, value=value))
        except Exception:  # a validation that can't run on this value rejects it
            logger.debug("validation of step %s raised", step.id, exc_info=True)
            return False

    def _fill(self, turn: Turn, frame: Frame, slot: str, value: Any) -> None:
        # What the customer typed for it: an English reply says "Sanlitun", as typed, where
        # the value is the gazetteer's canonical 三里屯.
        typed = next((e.text for e in turn.parse.entities if e.value == value), None)
        shown = typed or turn.parse.text.strip()[:200]
        frame.slots[slot] = Slot(value=value, turn=turn.state.turn, text=shown)
        turn.filled[slot] = value
        turn.state.options, turn.state.options_slot = [], None

    def _correct(self, turn: Turn, flow: Flow, frame: Frame) -> bool:
        """ "不是B123456，是B128000": replace a filled slot and redo the steps after it."""
        if not frame.slots or not ctx.is_correction(turn.parse.normalized):
            return False
        for step in flow.steps:
            if not step.ask or step.ask not in frame.slots:
                continue
            found = [e for e in turn.parse.entities if e.type in step.entity]
            if not found:
                continue
            value = found[-1].value  # the value after 是 / "I meant"
            if value == frame.slots[step.ask].value or not self._valid(turn, step, frame, value):
                continue
            self._fill(turn, frame, step.ask, value)
            self.say(turn, "common.flow.corrected", frame, value=value)
            frame.tries = 0
            frame.step = flow.after(step.id) or step.id
            self.run(turn)
            return True
        return False


def _call_depth(frames: list[Frame]) -> int:
    """Frames in the active call chain: the active flow and the callers below it (a switched-to
    flow starts a chain; frames under it are flows the customer left)."""
    depth = 0
    for frame in reversed(frames):
        depth += 1
        if not frame.sub:
            break
    return depth
