"""The answer pipeline: normalise -> understand -> decide -> act -> respond.

The policy, in this order (the first that applies decides the turn; its reason is recorded):
1. `safety`: someone may be hurt or in danger -> a person at once, urgent priority;
   `human_request`: the customer asks for a person -> handoff; `leave_message`: the message
   after an after-hours invitation becomes a ticket; `anger` / `negative`: upset over several
   turns -> handoff, high priority (mid-flow, unless the message answers the flow's question;
   the rules, per tenant: `escalation.py`);
2. the active flow: `cancel` ("算了"), `correction`, `slot` (the answer to its question),
   `digression` (an FAQ question mid-flow is answered and the flow resumes), `switch` (another
   flow's intent, stacked), `reprompt` (ask again; too many tries offers a person);
3. `follow_up` rewrites an elliptical question ("那押金呢?") with the last topic, then
   `intent`: an intent that starts a flow;
4. `faq`: an FAQ answer (or `faq_flow`: the flow an FAQ entry starts, or `faq_handoff`);
5. `clarify`: the top candidates as quick replies;
6. `fallback`: ask to rephrase; `fallback_repeated` offers a person; `fallbacks`: too many in
   a row (fewer for a VIP) -> handoff.
Every handoff gets its queue priority and skill; outside business hours, any but a safety one
becomes `after_hours`: the customer is told when people are back and may leave a message.
While a human agent owns the conversation the bot stays silent (`agent_owns`).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import replace
from typing import Any

from kefu.backends.base import BackendError
from kefu.clock import utcnow
from kefu.dialogue import context as ctx
from kefu.dialogue import escalation
from kefu.dialogue.flows import YES_NO
from kefu.dialogue.runner import FlowRunner, Turn
from kefu.dialogue.skills import Skills
from kefu.dialogue.state import DialogueState, Option, Topic
from kefu.dialogue.tone import adapt_tone, feelings, human_button, tone_of
from kefu.dialogue.turns import ConversationState, Decision, DecisionKind, Reply, TurnResult
from kefu.i18n import has, t
from kefu.knowledge.bank import KnowledgeBase
from kefu.understanding.parse import FaqCandidate, Lang, Parse, Understander

logger = logging.getLogger(__name__)
CLARIFY = "#faq"  # options_slot of a clarification's choices
FOLLOW_UP_MAX = 24  # characters: longer messages are questions of their own
SKILL_MARGIN = 0.08  # an FAQ candidate of the conversation's current skill wins within this


class Pipeline:
    def __init__(
        self,
        understander: Understander,
        knowledge: KnowledgeBase,
        threshold: float | None,
        skills: Skills | None = None,
        backend: Any = None,
    ):
        self.understander = understander
        self.knowledge = knowledge
        self.threshold = threshold
        self.skills = skills or Skills.empty()
        self.backend = backend
        self.runner = FlowRunner(
            self.skills.flows, self.skills.responses, self.skills.actions, backend
        )

    def handle(self, text: str, state: ConversationState) -> TurnResult:
        started = time.perf_counter()
        dialogue = DialogueState.from_json(state.dialogue)
        if state.status != "with_agent":
            self._profile(dialogue)
        # On the first turn, the customer's own language (the operator's profile) decides when
        # the message doesn't ("hi" from an English speaker); later, the conversation's.
        known = (dialogue.profile or {}).get("language") if dialogue.turn == 0 else None
        preferred = known or state.language
        parse = ctx.reply_language(self.understander.parse(text, preferred), preferred)
        dialogue.turn += 1
        turn = Turn(parse, dialogue, tone="upset" if tone_of(parse) == "upset" else "neutral")
        before = dialogue.about  # the turn may hand off, which clears the stack
        if state.status == "with_agent":
            decision = Decision(DecisionKind.SILENT, reason="agent_owns")
        else:
            try:
                decision = self._route(turn, state, self.decide(turn, state), before)
                adapt_tone(turn, decision.kind, self.skills.responses)
            except Exception:
                # A bug in a flow, template or action must cost the customer one apology,
                # not the conversation: say so, forget the flow, keep the message stored.
                logger.exception("dialogue failed on turn %d", dialogue.turn)
                dialogue.frames.clear()
                dialogue.options, dialogue.options_slot = [], None
                turn.replies[:] = [(t("error.dialogue", parse.language), {"kind": "error"})]
                turn.effects.clear()
                turn.handoff = None
                decision = Decision(DecisionKind.FALLBACK, reason="error")
        if decision.kind is not DecisionKind.FALLBACK:
            dialogue.fallbacks = 0
        dialogue.remember(
            {"turn": dialogue.turn, "decision": decision.kind.value, "reason": decision.reason,
             "intent": turn.parse.intent, "faq": decision.entry_id, "flow": decision.flow,
             **feelings(parse)}
        )  # fmt: skip
        active = dialogue.active
        trace = {
            "flow": decision.flow or (active.flow if active else None),
            "step": active.step if active else None,
            "outcome": turn.outcome,
            "responses": turn.responses,
            "actions": turn.actions,
            "slots": turn.filled,
            "tone": turn.tone,
            "handoff": turn.handoff,
        }
        return TurnResult(
            turn.parse,
            decision,
            tuple(Reply(text, payload) for text, payload in turn.replies),
            (time.perf_counter() - started) * 1000,
            dialogue.to_json(),
            tuple(turn.effects),
            trace,
        )

    # -- the policy -----------------------------------------------------------------------

    def decide(self, turn: Turn, state: ConversationState) -> Decision:
        parse, ds = turn.parse, turn.state
        norm = parse.normalized
        if escalation.safety_word(norm):
            return self._handoff(turn, state, "safety", "urgent", "common.handoff.safety")
        top = parse.top
        if escalation.wants_person(parse):
            return self._handoff(turn, state, "human_request", "normal", "common.handoff.human")
        if escalation.message_awaited(ds, state.escalation, state.now or utcnow()):
            skill = escalation.skill_of(map(self._skill, ds.about))
            return Decision(
                DecisionKind.AFTER_HOURS, reason=escalation.take_message(turn, self.runner, skill)
            )
        upset = state.status != "waiting_agent" and escalation.sustained(
            state.escalation, ds.history, ds.turn, feelings(parse)
        )
        if upset and ds.active is None:  # a flow first takes its answer (a complaint's detail)
            return self._handoff(turn, state, upset, "high", f"common.handoff.{upset}")
        if state.status == "waiting_agent" and (
            parse.intent == "common.greet"
            or (top is not None and top.entry_id == "common.greeting")
        ):
            # Someone is coming: a "hello?" while queued gets the queue, not a new welcome.
            turn.replies.append((t("handoff.already_waiting", turn.lang), {"kind": "handoff"}))
            return Decision(DecisionKind.HANDOFF, reason="waiting_agent")
        if ds.active is None and ds.options_slot == CLARIFY:
            picked = self.runner.pick_option(turn)
            ds.options, ds.options_slot = [], None
            if picked in self.knowledge.entries:
                turn.parse = parse = replace(
                    parse,
                    faq=(FaqCandidate(picked, 1.0, "exact", parse.normalized),),
                    faq_outcome="answer",
                    intent=None,
                )
                decision = self._faq(turn, state)
                return replace(decision, reason="clarify_pick")
        context = ds.active.flow if ds.active else (ds.topic.id if ds.topic else None)
        if context and len(parse.faq) > 1:
            turn.parse = parse = replace(
                parse, faq=self._in_skill(parse.faq, context.split(".")[0])
            )
        if ds.active is not None:
            return self._in_flow(turn, state, upset or None)
        if ds.topic is not None and len(norm) <= FOLLOW_UP_MAX and (subject := ctx.follow_up(norm)):
            turn.parse = self._follow_up(subject, ds.topic, parse.language)
            decision = self._open(turn, state, follow_up=True)
            turn.parse = ctx.keep_original(turn.parse, parse)
            return decision
        return self._open(turn, state)

    def _in_skill(
        self, candidates: tuple[FaqCandidate, ...], skill: str
    ) -> tuple[FaqCandidate, ...]:
        """Rank a close candidate of the skill the conversation is in first: "what about the
        deposit?" during a bike refund is the bike deposit, not a flat's security deposit."""
        entries = self.knowledge.entries
        top = candidates[0]
        if top.entry_id in entries and entries[top.entry_id].skill == skill:
            return candidates
        for c in candidates[1:]:
            if c.score < top.score - SKILL_MARGIN:
                break
            if c.entry_id in entries and entries[c.entry_id].skill == skill:
                return (c, *(x for x in candidates if x is not c))
        return candidates

    def _follow_up(self, subject: str, topic: Topic, lang: Lang) -> Parse:
        """ "那押金呢?" after a ride refund: the same question about a new subject. Understood
        as subject + the last question, minus the last topic itself (asking "what about X"
        means something other than what was just answered), and an FAQ candidate must be
        about the subject."""
        rewritten = self.understander.parse(f"{subject} {topic.text}", lang)

        def same(flow: str | None, entry: str | None = None) -> bool:
            return topic.id in (flow, entry)

        intent = rewritten.intent
        if same(self.skills.flow_for_intent(intent)):
            intent = None
        words = [w for w in re.split(r"\s+|(?<=[a-z])(?=[^a-z])", subject.lower()) if len(w) >= 2]
        words = [w for w in words if w not in ("the", "my", "your", "about")] or [subject.lower()]
        about = tuple(
            c
            for c in rewritten.faq
            if not same(self.skills.flow_for_faq(c.entry_id), c.entry_id)
            and any(w in c.matched.lower() for w in words)
        )
        if intent is None and not about:
            return self.understander.parse(subject, lang)  # no context helps: the subject alone
        return replace(
            rewritten, intent=intent, faq=about, faq_outcome="answer" if about else "none"
        )

    def _open(self, turn: Turn, state: ConversationState, follow_up: bool = False) -> Decision:
        prefix = "follow_up_" if follow_up else ""
        parse = turn.parse
        flow = self.skills.flow_for_intent(parse.intent)
        faq_wins = self._faq_wins(parse)
        if self._visitor_cant(flow, turn.state) and parse.faq_outcome == "answer":
            faq_wins = True
        if flow is not None and not faq_wins:
            return self._start(turn, flow, prefix + "intent")
        return self._faq(turn, state, prefix)

    def _visitor_cant(self, flow: str | None, ds: DialogueState) -> bool:
        """The flow acts on an account and the customer is anonymous: an FAQ answer, when
        there is one, serves a visitor better than "please sign in"."""
        return flow is not None and self.skills.flows[flow].needs_customer and not ds.customer

    @staticmethod
    def _faq_wins(parse: Parse) -> bool:
        """An intent starts its flow, unless an FAQ entry matches the message at least as well
        as the intent classifier is sure ("我想退押金": the deposit entry, not a ride refund)."""
        top = parse.top
        return (
            top is not None
            and parse.faq_outcome == "answer"
            and top.score >= parse.intent_confidence
        )

    def _start(self, turn: Turn, flow: str, reason: str) -> Decision:
        turn.state.topic = Topic("flow", flow, turn.parse.text[:200])
        self.runner.start(turn, flow)
        return Decision(
            DecisionKind.HANDOFF if turn.handoff else DecisionKind.FLOW, reason=reason, flow=flow
        )

    def _in_flow(self, turn: Turn, state: ConversationState, upset: str | None) -> Decision:
        parse, ds = turn.parse, turn.state
        frame = ds.active
        assert frame is not None
        flow = frame.flow
        waiting = self.runner.waiting_for(turn)
        # "不用了" answers a yes/no question ("keep the booking"); it only cancels elsewhere.
        answers_yes_no = (
            waiting is not None
            and YES_NO in waiting.entity
            and ctx.yes_no(parse.normalized) is not None
        )
        if not answers_yes_no and (
            ctx.whole("cancel", parse.normalized)
            or (
                parse.intent == "common.cancel"
                and self.skills.flow_for_intent(parse.intent) is None
            )
        ):
            self.runner.cancel(turn)
            return Decision(DecisionKind.FLOW, reason="cancel", flow=flow)
        if self.runner.answer(turn):
            kind = DecisionKind.HANDOFF if turn.handoff else DecisionKind.FLOW
            reason = "correction" if "common.flow.corrected" in turn.responses else "slot"
            return Decision(kind, reason=reason, flow=flow)
        if upset:
            return self._handoff(turn, state, upset, "high", f"common.handoff.{upset}")
        if ds.topic is not None and (subject := ctx.follow_up(parse.normalized)):
            original = parse
            parse = self._follow_up(subject, ds.topic, parse.language)
            parse = replace(
                parse, faq=self._in_skill(parse.faq, flow.split(".")[0]) if parse.faq else ()
            )
            turn.parse = ctx.keep_original(parse, original)
        other = self.skills.flow_for_intent(parse.intent)
        top = parse.top
        if other is not None and other != flow and not self._faq_wins(parse):
            return self._start(turn, other, "switch")
        if (
            top is not None
            and parse.faq_outcome == "answer"
            and top.entry_id in self.knowledge.entries
        ):
            entry = self.knowledge.entries[top.entry_id]
            if entry.action != "handoff" and self.skills.flow_for_faq(entry.id) != flow:
                self._say_faq(turn, entry.id)
                self.runner.resume(turn)
                return Decision(
                    DecisionKind.ANSWER, entry.id, top.score, reason="digression", flow=flow
                )
        self.runner.reprompt(turn)
        kind = DecisionKind.FLOW if ds.active is not None else DecisionKind.FALLBACK
        return Decision(kind, reason="reprompt" if ds.active else "too_many_tries", flow=flow)

    def _faq(self, turn: Turn, state: ConversationState, prefix: str = "") -> Decision:
        parse, ds = turn.parse, turn.state
        lang = parse.language
        top = parse.top
        known = [c for c in parse.faq if c.entry_id in self.knowledge.entries]
        if self.threshold is not None:
            outcome = "answer" if top is not None and top.score >= self.threshold else "none"
        else:
            outcome = parse.faq_outcome
        if outcome == "clarify" and len(known) > 1:
            options = [
                {"title": self.knowledge.entries[c.entry_id].question.get(lang), "faq": c.entry_id}
                for c in known
            ]
            lines = "\n".join(f"{n}. {o['title']}" for n, o in enumerate(options, 1))
            # "第三个" or "3" next turn picks one (as would sending its title).
            ds.options = [Option(str(o["title"]), str(o["faq"])) for o in options]
            ds.options_slot = CLARIFY
            turn.replies.append(
                (t("clarify", lang, options=lines), {"kind": "clarify", "quick_replies": options})
            )
            return Decision(
                DecisionKind.CLARIFY,
                score=top.score if top else None,
                options=tuple(c.entry_id for c in known),
                reason=prefix + "clarify",
            )
        if top is None or outcome == "none" or top.entry_id not in self.knowledge.entries:
            return self._fallback(turn, state, top.score if top else None, prefix)
        entry = self.knowledge.entries[top.entry_id]
        flow = self.skills.flow_for_faq(entry.id)
        if self._visitor_cant(flow, ds):
            flow = None
        if flow is not None:
            decision = self._start(turn, flow, prefix + "faq_flow")
            return Decision(decision.kind, entry.id, top.score, reason=decision.reason, flow=flow)
        ds.topic = Topic("faq", entry.id, parse.text[:200])
        if entry.action == "handoff":
            if state.status == "waiting_agent":
                turn.replies.append((t("handoff.already_waiting", lang), {"kind": "handoff"}))
            else:
                self._say_faq(turn, entry.id, kind="handoff")
            turn.handoff = {"reason": f"faq:{entry.id}", "priority": "normal"}
            return Decision(
                DecisionKind.HANDOFF, entry.id, top.score, reason=prefix + "faq_handoff"
            )
        self._say_faq(turn, entry.id)
        return Decision(DecisionKind.ANSWER, entry.id, top.score, reason=prefix + "faq")

    def _say_faq(self, turn: Turn, entry_id: str, kind: str = "answer") -> None:
        text = self.knowledge.render(entry_id, turn.parse.language)
        turn.replies.append((text, {"kind": kind, "faq": entry_id}))

    def _fallback(
        self, turn: Turn, state: ConversationState, score: float | None, prefix: str
    ) -> Decision:
        lang = turn.parse.language
        turn.state.fallbacks += 1
        if state.status != "waiting_agent" and (
            level := escalation.after_fallbacks(state.escalation, turn.state)
        ):
            response, vip = "common.handoff.fallbacks", level == "vip"
            decision = self._handoff(turn, state, "fallbacks", level, response, vip=vip)
            return replace(decision, score=score, reason=prefix + "fallbacks")
        described = [f"skill.{s}" for s in self.knowledge.skills if has(f"skill.{s}", lang)]
        if described:
            topics = t("topics.separator", lang).join(t(key, lang) for key in described)
            text = t("fallback", lang, topics=topics)
        else:
            text = t("fallback.plain", lang)
        payload: dict[str, Any] = {"kind": "fallback"}
        reason = prefix + "fallback"
        if turn.state.fallbacks >= 2:
            payload["quick_replies"] = [human_button(lang)]
            reason = prefix + "fallback_repeated"
        turn.replies.append((text, payload))
        return Decision(DecisionKind.FALLBACK, score=score, reason=reason)

    def _handoff(
        self, turn: Turn, state: ConversationState, reason: str, priority: str, response: str,
        **more: Any,
    ) -> Decision:  # fmt: skip
        waiting = state.status == "waiting_agent"
        escalation.hand_off(turn, self.runner, reason, priority, response, waiting=waiting, **more)
        return Decision(DecisionKind.HANDOFF, reason=reason)

    def _route(
        self, turn: Turn, state: ConversationState, decision: Decision, before: list[str]
    ) -> Decision:
        """A handoff's priority and skill, or after hours an invitation to leave a message."""
        if turn.handoff is None:
            return decision
        ids = [turn.handoff.get("flow"), decision.flow, decision.entry_id, *before]
        skill = escalation.skill_of(map(self._skill, [*ids, *turn.state.about]))
        now, waiting = state.now or utcnow(), state.status == "waiting_agent"
        rules = state.escalation
        if escalation.route(turn, self.runner, rules, skill=skill, waiting=waiting, now=now):
            return replace(decision, kind=DecisionKind.AFTER_HOURS, reason="after_hours")
        return decision

    def _skill(self, id_: str | None) -> str | None:
        """The skill of a flow or FAQ entry id."""
        entry = self.knowledge.entries.get(id_) if id_ else None
        return entry.skill if entry is not None else (id_ or "").split(".")[0] or None

    # -- personalisation and tone ---------------------------------------------------------

    def _profile(self, ds: DialogueState) -> None:
        """The operator's profile of a known customer, fetched once per conversation."""
        if ds.profile is not None or not ds.customer or self.backend is None:
            return
        try:
            profile = self.backend.customer_profile(ds.customer)
        except Exception as exc:  # a backend bug must not cost the turn either
            if not isinstance(exc, BackendError):
                logger.exception("customer_profile failed")
            ds.profile = {}  # greet without a name rather than fail or retry every turn
            return
        ds.profile = {"name": profile.name, "tier": profile.tier, "language": profile.language}
