"""The traffic simulator behind `kefu demo simulate`: realistic conversations driven in process
through the real pipeline (conversation service, handoff service, ratings), on a simulated
clock, so the dashboard has data and its numbers can be checked against what was simulated.

Two phases. `simulate_plan.plan_traffic` draws every conversation from `random.Random(seed)`:
when it starts (the last `days` local days, commute-shaped hours), who, which channel,
language and scenario, what the customer and the agent will say, with their delays. Running the
plans in order of start sets the clock (`kefu.db.base.simulated_clock`) and calls the services;
the `Ledger` records what the calls returned. Same seed: same texts and times.
See `simulate_ledger` for what the ledger counts.
"""

from __future__ import annotations

import itertools
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kefu.analytics import simulate_script as script
from kefu.analytics.simulate_ledger import ConversationRecord, GapQuestion, Ledger, Spike
from kefu.analytics.simulate_plan import Plan, plan_traffic
from kefu.clock import SimulatedClock, simulated_clock
from kefu.conversations.models import ConversationStatus
from kefu.dialogue.turns import TurnResult
from kefu.errors import Conflict, InvalidInput
from kefu.runtime import Runtime

Progress = Callable[[str, float], None]
MAX_CONVERSATIONS = 5_000_000
MAX_DAYS = 3660
MAX_WORKERS = 32
AGENT_USERNAME = "sim-agent"
TICK = timedelta(milliseconds=20)  # each clock read: a bot answers a few ticks after the question


def check_size(conversations: int, days: int, workers: int = 1) -> None:
    if not 1 <= conversations <= MAX_CONVERSATIONS:
        raise InvalidInput(
            f"conversations must be 1-{MAX_CONVERSATIONS:,}", code="invalid_conversations"
        )
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be 1-{MAX_DAYS}", code="invalid_days")
    if not 1 <= workers <= MAX_WORKERS:
        raise InvalidInput(f"workers must be 1-{MAX_WORKERS}", code="invalid_workers")


def simulate(
    runtime: Runtime,
    conversations: int,
    days: int,
    seed: int,
    *,
    end: datetime | None = None,
    progress: Progress | None = None,
    workers: int = 1,
) -> Ledger:
    """Simulate `conversations` conversations over the `days` local days ending at `end`
    (default now) into the runtime's database; return what was generated and observed.

    `workers` > 1 runs customers in that many threads (each with its own simulated clock), for
    big PostgreSQL runs: the pipeline mostly waits on the database. Each customer's
    conversations stay in order in one thread; the traffic (texts, times) is the same, what the
    bot answers may differ where it depends on another customer's earlier actions."""
    check_size(conversations, days, workers)
    end = (end or datetime.now(UTC)).astimezone(UTC)
    tz = ZoneInfo(runtime.settings.timezone)
    report = progress or (lambda _stage, _done: None)
    plans, window_start, spike_day = plan_traffic(seed, conversations, days, end, tz)
    ledger = Ledger(
        seed, days, runtime.settings.timezone, window_start.isoformat(), end.isoformat()
    )
    if spike_day is not None:
        ledger.spike = Spike(script.SPIKE_PLACE, spike_day.isoformat(), script.SPIKE_HOUR, 0)
    ledger.agent_account_id = _agent_account(runtime, workers)
    shares: list[list[Plan]] = [[] for _ in range(workers)]
    for plan in plans:  # a customer's conversations in one thread, in order
        shares[zlib.crc32(plan.customer.encode()) % workers].append(plan)
    shared = _Shared(ledger, report, len(plans))
    results = threading.local()

    def observe(result: TurnResult) -> None:
        found = getattr(results, "found", None)
        if found is not None:
            found.append(result)

    runtime.conversations.observers.append(observe)
    started = time.perf_counter()
    report("simulate", 0.0)
    try:
        runners = [_Runner(runtime, shared, tz, results) for _ in shares]
        if workers == 1:
            runners[0].run_all(shares[0], end)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="simulate") as pool:
                for done in [
                    pool.submit(r.run_all, p, end) for r, p in zip(runners, shares, strict=True)
                ]:
                    done.result()
    finally:
        runtime.conversations.observers.remove(observe)
    report("simulate", 1.0)
    ledger.elapsed_s = time.perf_counter() - started
    ledger.conversations = sorted(
        (rec for r in runners for rec in r.records), key=lambda r: (r.started_at, r.id)
    )
    _returns(ledger)
    return ledger


class _Shared:
    """What the workers share: the ledger's planted parts and the progress, under a lock."""

    def __init__(self, ledger: Ledger, report: Progress, total: int) -> None:
        self.ledger, self.report, self.total = ledger, report, total
        self.lock = threading.Lock()
        self.failed = False
        self.done = 0
        self.every = max(1, total // 200)

    def finished_one(self) -> None:
        with self.lock:
            self.done += 1
            if self.done % self.every == 0:
                self.report("simulate", self.done / self.total)


def _agent_account(runtime: Runtime, workers: int) -> int:
    """The simulated agent: an account made the way `kefu accounts create` does, reused."""
    import secrets

    from sqlalchemy import select

    from kefu.accounts import service as accounts
    from kefu.accounts.models import Account
    from kefu.accounts.permissions import AccountRole

    with runtime.system_sessions.begin() as session:
        found = session.scalar(
            select(Account.id).where(
                Account.tenant_id == runtime.tenant.id, Account.username == AGENT_USERNAME
            )
        )
        if found is None:
            found = accounts.create_account(
                session,
                runtime.tenant.id,
                AGENT_USERNAME,
                secrets.token_urlsafe(24),
                AccountRole.AGENT,
                display_name="小李 (simulated)",
            ).id
    # Offline: routing gives it nothing, the simulator takes each chat itself, on time; one
    # seat per worker thread (each has at most one chat at a time).
    runtime.handoffs.agent(found)
    runtime.handoffs.update_agent(found, capacity=max(3, workers))
    return found


class _Runner:
    """Runs plans one after the other in one thread, on its own simulated clock."""

    def __init__(
        self, runtime: Runtime, shared: _Shared, tz: ZoneInfo, results: threading.local
    ) -> None:
        self.rt, self.shared, self.ledger, self.tz = runtime, shared, shared.ledger, tz
        self.clock: SimulatedClock
        self.agent = shared.ledger.agent_account_id or 0
        self.results: list[TurnResult] = []
        self._results = results  # where the service's observer puts this thread's turns
        self.records: list[ConversationRecord] = []

    def run_all(self, plans: list[Plan], end: datetime) -> None:
        self._results.found = self.results
        with simulated_clock(plans[0].start if plans else end, TICK) as self.clock:
            for plan in plans:
                if self.shared.failed:  # another worker failed: its error is reported
                    return
                try:
                    self.run(plan)
                except BaseException:
                    self.shared.failed = True
                    raise
                self.shared.finished_one()

    def run(self, plan: Plan) -> None:
        self.clock.set(plan.start)
        self.touched: list[str] = []
        conv = self.rt.conversations.start(
            language=plan.language, channel=plan.channel, customer_external_id=plan.customer
        )
        local = plan.start.astimezone(self.tz)
        rec = ConversationRecord(
            str(conv.id), plan.customer, plan.scenario, plan.skill, plan.channel, plan.language,
            plan.start.isoformat(), "", local.date().isoformat(), local.hour,
            return_of=None, return_kind=plan.return_kind,
        )  # fmt: skip
        self.records.append(rec)
        status = ConversationStatus.BOT
        for delay, text in plan.messages:
            self.clock.advance(delay)
            status = self._post(conv.id, rec, text, plan)
            if status is not ConversationStatus.BOT:
                break
        if status in (ConversationStatus.WAITING_AGENT, ConversationStatus.WITH_AGENT):
            rec.handed_off = True
            self._agent(conv.id, rec, plan)
        if not rec.closed and plan.close_after is not None:
            self.clock.advance(plan.close_after)
            self.rt.conversations.close(conv.id)
            rec.closed = True
        rec.ended_at = self.clock.now.isoformat()
        seen = [*self.touched, *([rec.handoff_skill] if rec.handoff_skill else [])]
        skills = [p for p in seen if p in script.SKILLS_OF_SERVICE]
        rec.touched_skill = skills[0] if skills else "common" if seen else "other"
        if plan.rating is not None and rec.closed:
            self.clock.advance(plan.rating_after)
            comment = script.RATING_COMMENTS[plan.language][plan.rating]
            self.rt.handoffs.rate(conv.id, plan.rating, comment)
            rec.rating = plan.rating

    def _post(self, cid: Any, rec: ConversationRecord, text: str, plan: Plan) -> ConversationStatus:
        self.results.clear()
        posted = self.rt.conversations.post(cid, text)
        rec.customer_messages += 1
        rec.bot_messages += len(posted.replies)
        if not self.results:
            return posted.status
        result = self.results[-1]
        kind = result.decision.kind.value
        rec.decisions[kind] = rec.decisions.get(kind, 0) + 1
        self._flow(rec, result)
        self._packs(result)
        if posted.status is not ConversationStatus.BOT and not rec.handed_off:
            handoff = result.trace.get("handoff") or {}
            rec.handoff_reason, rec.handoff_skill = handoff.get("reason"), handoff.get("skill")
        if plan.gap_topic is not None and text in script.GAP_TOPICS[plan.gap_topic]:
            question = GapQuestion(rec.id, text, kind, result.decision.score)
            with self.shared.lock:
                self.ledger.gap_topics.setdefault(plan.gap_topic, []).append(question)
        if plan.scenario == "spike" and rec.customer_messages == 1:
            self._spike(rec, result)
        return posted.status

    def _spike(self, rec: ConversationRecord, result: TurnResult) -> None:
        spike = self.ledger.spike
        if spike is None:
            return
        place = next((str(e.value) for e in result.parse.entities if e.type == "place"), "-")
        intent = str(result.parse.intent)
        with self.shared.lock:
            spike.count += 1
            spike.conversation_ids.append(rec.id)
            spike.intents[intent] = spike.intents.get(intent, 0) + 1
            spike.places[place] = spike.places.get(place, 0) + 1

    @staticmethod
    def _flow(rec: ConversationRecord, result: TurnResult) -> None:
        """The first flow, its first outcome, and the last step it reached unless resolved;
        silent turns (a person is serving) and digressions into other flows don't count."""
        flow, trace = result.trace.get("flow"), result.trace
        if result.decision.kind.value == "silent" or rec.flow_outcome is not None:
            return
        if rec.flow is None:
            if not flow:
                return
            rec.flow = str(flow)
        elif flow and flow != rec.flow:
            return
        if trace.get("step"):
            rec.flow_last_step = str(trace["step"])
        if trace.get("outcome"):
            rec.flow_outcome = str(trace["outcome"])
            if rec.flow_outcome == "resolved":
                rec.flow_last_step = None

    def _packs(self, result: TurnResult) -> None:
        """The packs a turn touched (FAQ entry, intent, flow), in order: `touched_skill`."""
        for name in (result.decision.entry_id, result.parse.intent, result.trace.get("flow")):
            if name and "." in name:
                self.touched.append(name.split(".", 1)[0])

    def _agent(self, cid: Any, rec: ConversationRecord, plan: Plan) -> None:
        handoffs, part = self.rt.handoffs, plan.agent
        if part.gives_up_after is not None:  # nobody came in time: the customer leaves
            self.clock.advance(part.gives_up_after)
            self.rt.conversations.close(cid)
            rec.closed = True
            return
        self.clock.advance(part.take_after)
        try:
            handoffs.take(self.agent, cid)
        except Conflict:  # someone else's online agent got it first: take it over
            handoffs.take(self.agent, cid, override=True)
        rec.agent_took = True
        rec.system_messages += 1
        for i, (delay, text) in enumerate(part.replies):
            self.clock.advance(delay)
            handoffs.reply(self.agent, cid, text)
            rec.agent_messages += 1
            if i < len(part.customer_lines):
                delay, line = part.customer_lines[i]
                self.clock.advance(delay)
                self._post(cid, rec, line, plan)
        self.clock.advance(part.close_after)
        handoffs.close(self.agent, cid)
        rec.system_messages += 1
        rec.closed = True


def _returns(ledger: Ledger) -> None:
    """Each conversation's time to the same customer's next one, from what happened."""
    by_customer: dict[str, list[ConversationRecord]] = {}
    for rec in ledger.conversations:
        by_customer.setdefault(rec.customer, []).append(rec)
    for visits in by_customer.values():
        visits.sort(key=lambda r: r.started_at)
        for before, after in itertools.pairwise(visits):
            gap = datetime.fromisoformat(after.started_at) - datetime.fromisoformat(before.ended_at)
            before.next_visit_s = gap.total_seconds()
            before.returned_24h = gap <= timedelta(hours=24)
            if after.return_kind is not None:
                after.return_of = before.id
