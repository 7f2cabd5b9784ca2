"""What the traffic simulator (kefu.analytics.simulate) generated and saw, as JSON-able
dataclasses: the ledger analytics tests compare the dashboard's numbers with.

Ledger counts (per conversation, as observed, each one equal to what was stored):
- customer_messages: messages posted; bot_messages: the replies `post` returned;
  agent_messages: agent replies; system_messages: one per agent take and one per agent close
  (kefu's "joined" and "ended" notes).
- handed_off: a `post` left the conversation waiting_agent (one handoff row each);
  handoff_reason: that turn's handoff reason; agent_took: the agent took it.
- closed: by the agent or the customer; rating: the score given (rated after the close).
- flow: the first flow a turn ran; flow_outcome: that flow's first outcome (resolved, failed,
  cancelled, handed_off); flow_last_step: the last step it reached, unless resolved (silent
  turns and digressions into another flow don't count).
- skill and language: as planned (the language is also what the conversation ends with);
  touched_skill: the first sharing-economy pack its turns touched, as observed.
- next_visit_s: seconds from this conversation's last activity to the same customer's next
  conversation; returned_24h: next_visit_s <= 24 h. Planted returns are 1-20 h or 26-72 h after
  the end, never near the 24 h boundary, whether measured from the start or the end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ConversationRecord:
    id: str
    customer: str
    scenario: str
    skill: str  # intended: bike, lodging or common
    channel: str
    language: str
    started_at: str  # ISO, UTC
    ended_at: str  # the last thing that happened (close, rating excluded)
    local_day: str  # YYYY-MM-DD in the settings' time zone
    local_hour: int
    customer_messages: int = 0
    bot_messages: int = 0
    agent_messages: int = 0
    system_messages: int = 0
    handed_off: bool = False
    handoff_reason: str | None = None
    handoff_skill: str | None = None  # where the handoff was routed
    agent_took: bool = False
    closed: bool = False
    rating: int | None = None
    flow: str | None = None
    flow_outcome: str | None = None
    flow_last_step: str | None = None
    decisions: dict[str, int] = field(default_factory=dict)
    # The first of bike/lodging its turns touched (FAQ entry, intent, flow; then the handoff's
    # skill), "common" if only the shared pack, "other" if nothing was understood.
    touched_skill: str = "other"
    return_of: str | None = None  # the earlier conversation of a planted return
    return_kind: str | None = None  # within_24h / after_24h (planted)
    next_visit_s: float | None = None
    returned_24h: bool = False

    @property
    def messages(self) -> int:
        return (
            self.customer_messages + self.bot_messages + self.agent_messages + self.system_messages
        )


@dataclass
class GapQuestion:
    conversation_id: str
    text: str
    decision: str  # what the bot did with it
    score: float | None


@dataclass
class Spike:
    place: str
    local_day: str
    hour: int
    count: int  # conversations planted in that hour
    conversation_ids: list[str] = field(default_factory=list)
    intents: dict[str, int] = field(default_factory=dict)  # as understood
    places: dict[str, int] = field(default_factory=dict)  # first `place` entity, as understood


@dataclass
class Ledger:
    seed: int
    days: int
    timezone: str
    window_start: str  # ISO UTC: local midnight of the first day
    end: str
    conversations: list[ConversationRecord] = field(default_factory=list)
    gap_topics: dict[str, list[GapQuestion]] = field(default_factory=dict)
    spike: Spike | None = None
    agent_account_id: int | None = None
    elapsed_s: float = 0.0

    def totals(self) -> dict[str, Any]:
        convs = self.conversations
        ratings = [c.rating for c in convs if c.rating is not None]
        return {
            "conversations": len(convs),
            "messages": sum(c.messages for c in convs),
            "customer_messages": sum(c.customer_messages for c in convs),
            "bot_messages": sum(c.bot_messages for c in convs),
            "agent_messages": sum(c.agent_messages for c in convs),
            "system_messages": sum(c.system_messages for c in convs),
            "handoffs": sum(c.handed_off for c in convs),
            "agent_took": sum(c.agent_took for c in convs),
            "closed": sum(c.closed for c in convs),
            "ratings": len(ratings),
            "rating_mean": round(sum(ratings) / len(ratings), 3) if ratings else None,
            "returned_24h": sum(c.returned_24h for c in convs),
            "flows_started": sum(c.flow is not None for c in convs),
            "flows_resolved": sum(c.flow_outcome == "resolved" for c in convs),
            "gap_questions": sum(len(q) for q in self.gap_topics.values()),
            "spike": self.spike.count if self.spike else 0,
            "elapsed_s": round(self.elapsed_s, 2),
            "messages_per_s": round(sum(c.messages for c in convs) / self.elapsed_s, 1)
            if self.elapsed_s
            else None,
        }

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "totals": self.totals()}
