"""Knowledge gaps: the customer questions kefu could not answer (fallbacks, clarifications,
low confidence, handoffs), grouped by meaning so an operator sees which answers are missing,
how often each is asked, whether it is growing, and can start a draft FAQ entry from it.

`cluster_gaps` is pure (no I/O) and deterministic: the same items give the same clusters, with
the same ids, whatever their order. `gap_clusters` reads the gap turns from the rollups.
At most `MAX_ITEMS` (the most recent) are clustered, and of those `MAX_DISTINCT` distinct
questions: average linkage is quadratic in time and memory, and the newest questions are the
ones worth acting on.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.analytics.filters import Filters
from kefu.analytics.gaps_cluster import (
    DEFAULT_THRESHOLD,
    TFIDF_THRESHOLD,
    Features,
    centroid_order,
    cluster_labels,
    top_terms,
)
from kefu.analytics.models import TurnFact
from kefu.text.language import detect_language
from kefu.text.normalize import clean_display, match_key
from kefu.understanding.embeddings import Embedder

MAX_ITEMS = 5000
# Distinct questions clustered at most: average linkage holds two n*(n-1)/2 float64 distance
# arrays, ~70 MB at 3,000 (~200 MB at 5,000), and the embedder encodes each once.
MAX_DISTINCT = 3000
MIN_SIZE = 3  # smaller groups are noise ("other"), not a gap worth an FAQ entry
MAX_TEXT = 500  # characters of a question kept for matching and display
REPRESENTATIVES = 5
SAMPLE_CONVERSATIONS = 5
DRAFT_SIMILAR = 20
# The later half of the range must differ from the earlier half by this factor (and by
# RISE_MIN questions) for the trend to be more than "steady".
RISE_FACTOR = 1.5
RISE_MIN = 2
DRAFT_ANSWER = {
    "zh": "【草稿】请填写答案，审核后再启用此条目。",
    "en": "[DRAFT] Write the answer, review it, then enable this entry.",
}
DRAFT_TAGS = ("draft", "knowledge-gap")
DEFAULT_SKILL = "common"
GAP_REASONS = frozenset({"fallback", "clarify", "handoff"})
_SLUG = re.compile(r"[^a-z0-9]+")

Direction = Literal["rising", "falling", "steady"]


class GapItem(NamedTuple):
    """One unanswered customer message (its text already PII-masked)."""

    turn_id: int
    conversation_id: str
    text: str
    language: str
    local_day: date
    reason: str | None = None  # fallback, clarify, handoff, low_confidence...
    skill: str | None = None  # the conversation's skill, for the draft entry


@dataclass(frozen=True)
class GapCluster:
    id: str  # "gap-" + hash of the medoid question's match key: stable on the same data
    size: int
    conversations: int  # distinct
    languages: dict[str, int]
    reasons: dict[str, int]
    first_day: date
    last_day: date
    daily: tuple[tuple[date, int], ...]  # every day of the range, zeros included
    direction: Direction
    label: tuple[str, ...]  # top terms
    questions: tuple[str, ...]  # representatives, closest to the centroid first
    sample_conversations: tuple[str, ...]
    turn_ids: tuple[int, ...]  # every member, newest first
    draft: dict[str, Any]  # a knowledge entry body for POST /v1/admin/knowledge

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["first_day"] = self.first_day.isoformat()
        out["last_day"] = self.last_day.isoformat()
        out["daily"] = [{"day": d.isoformat(), "count": n} for d, n in self.daily]
        out["label"], out["questions"] = list(self.label), list(self.questions)
        out["sample_conversations"] = list(self.sample_conversations)
        out["turn_ids"] = list(self.turn_ids)
        return out


def _recent(items: Sequence[GapItem], limit: int) -> list[GapItem]:
    ordered = sorted(items, key=lambda it: (it.local_day, it.turn_id), reverse=True)
    return ordered[:limit]


def cluster_gaps(
    items: Sequence[GapItem],
    *,
    today: date,
    since: date | None = None,
    embedder: Embedder | None = None,
    threshold: float | None = None,
    min_size: int = MIN_SIZE,
    max_items: int = MAX_ITEMS,
    max_distinct: int = MAX_DISTINCT,
) -> list[GapCluster]:
    """Group unanswered questions by meaning; largest cluster first.

    With an `embedder` (the runtime's sentence encoder) paraphrases with no word in common
    still meet; without one, TF-IDF terms alone decide. `threshold`: the average distance
    (1 - similarity) under which questions are one gap; the default suits the mode.
    `since`..`today` is the range of each cluster's daily counts (default: from the earliest
    item; earlier items are left out). Only the `max_items` most recent items, and of those
    the `max_distinct` most recent distinct questions (after normalisation), are clustered;
    groups of fewer than `min_size` questions are left out as noise."""
    if embedder is not None and embedder.name.startswith("hashed-ngram"):
        embedder = None  # the same terms as the TF-IDF, without idf: it only blurs them
    if threshold is None:
        threshold = DEFAULT_THRESHOLD if embedder is not None else TFIDF_THRESHOLD
    if since is not None:
        items = [it for it in items if it.local_day >= since]
    recent = _recent(items, max_items)
    by_key: dict[str, list[GapItem]] = defaultdict(list)
    for item in recent:
        key = match_key(item.text[:MAX_TEXT])
        if key:
            by_key[key].append(item)
    if not by_key:
        return []
    if len(by_key) > max_distinct:  # the newest distinct questions (dicts keep insertion order)
        by_key = dict(list(by_key.items())[:max_distinct])
        recent = [it for group in by_key.values() for it in group]
    # Sorted keys: the clustering never depends on the order the items came in.
    keys = sorted(by_key)
    features = Features.of(keys, embedder)
    labels = cluster_labels(features, threshold)
    groups: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        groups[int(label)].append(row)
    start = since or min(it.local_day for it in recent)
    until = max(today, max(it.local_day for it in recent))
    clusters = []
    for rows in groups.values():
        if sum(len(by_key[keys[row]]) for row in rows) < min_size:
            continue
        ordered, centroid = centroid_order(features, rows, [len(by_key[keys[r]]) for r in rows])
        label = top_terms(centroid, features.terms)
        clusters.append(_describe([keys[r] for r in ordered], by_key, label, start, until))
    clusters.sort(key=lambda c: (-c.size, -c.last_day.toordinal(), c.id))
    return clusters


def _describe(
    keys: list[str],
    by_key: Mapping[str, list[GapItem]],
    label: list[str],
    start: date,
    until: date,
) -> GapCluster:
    """A cluster from its match keys, closest to the centroid first."""
    members = sorted(
        (it for key in keys for it in by_key[key]),
        key=lambda it: (it.local_day, it.turn_id),
        reverse=True,
    )
    medoid = keys[0]
    cluster_id = "gap-" + hashlib.sha256(medoid.encode("utf-8")).hexdigest()[:12]
    languages = Counter(_language(it) for it in members)
    conversations = list(dict.fromkeys(it.conversation_id for it in members))
    per_day = Counter(it.local_day for it in members)
    days = [start + timedelta(days=n) for n in range((until - start).days + 1)]
    daily = tuple((d, per_day.get(d, 0)) for d in days)
    # The text shown for a key: its newest wording (keys fold case, width and punctuation).
    shown = {key: clean_display(by_key[key][0].text[:MAX_TEXT]) for key in keys}
    return GapCluster(
        id=cluster_id,
        size=len(members),
        conversations=len(conversations),
        languages=dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
        reasons=dict(sorted(Counter(it.reason or "unknown" for it in members).items())),
        first_day=min(it.local_day for it in members),
        last_day=max(it.local_day for it in members),
        daily=daily,
        direction=direction_of([n for _, n in daily]),
        label=tuple(label),
        questions=tuple(shown[k] for k in keys[:REPRESENTATIVES]),
        sample_conversations=tuple(conversations[:SAMPLE_CONVERSATIONS]),
        turn_ids=tuple(it.turn_id for it in members),
        draft=draft_entry(cluster_id, label, [(shown[k], by_key[k]) for k in keys]),
    )


def _language(item: GapItem) -> str:
    """The question's own language; the conversation's when the text has no letters."""
    return detect_language(item.text[:MAX_TEXT]) or item.language


def direction_of(counts: Sequence[int]) -> Direction:
    """Later half of the range against the earlier half (the middle day of an odd range
    belongs to neither)."""
    half = len(counts) // 2
    if half == 0:
        return "steady"
    early, late = sum(counts[:half]), sum(counts[-half:])
    if late >= early * RISE_FACTOR and late - early >= RISE_MIN:
        return "rising"
    if early >= late * RISE_FACTOR and early - late >= RISE_MIN:
        return "falling"
    return "steady"


def draft_entry(
    cluster_id: str, label: Sequence[str], texts: Sequence[tuple[str, list[GapItem]]]
) -> dict[str, Any]:
    """A disabled FAQ entry in the pack format (`KnowledgeEntry`), ready for the admin to
    complete: the most central question per language, the others as similar questions.

    The pack format requires a question and an answer in both languages: a language nobody
    asked in gets the other language's question (to translate), and the answer is a marked
    placeholder. `enabled` is false, so an entry saved unedited never answers a customer."""
    by_lang: dict[str, list[str]] = {"zh": [], "en": []}
    skills: Counter[str] = Counter()
    for text, items in texts:
        lang = detect_language(text) or items[0].language
        by_lang["zh" if lang == "zh" else "en"].append(text[:4000])
        skills.update(it.skill for it in items if it.skill)
    first = next(t for t, _ in texts)[:4000] if texts else ""
    question = {lang: (found[0] if found else first) for lang, found in by_lang.items()}
    similar = {lang: found[1 : 1 + DRAFT_SIMILAR] for lang, found in by_lang.items()}
    words = [w for w in (_SLUG.sub("-", t.lower()).strip("-") for t in label) if w]
    slug = "-".join(words[:3])[:60].strip("-")
    suffix = cluster_id.removeprefix("gap-")[:8]
    # Only [a-z0-9.-]: always a valid entry id (`kefu.knowledge.pack.ENTRY_ID`).
    entry_id = f"draft.{slug}-{suffix}" if slug else f"draft.gap-{suffix}"
    return {
        "id": entry_id,
        "skill": skills.most_common(1)[0][0] if skills else DEFAULT_SKILL,
        "tags": list(DRAFT_TAGS),
        "question": question,
        "similar": similar,
        "keywords": {"zh": [], "en": []},
        "answer": dict(DRAFT_ANSWER),
        "enabled": False,
    }


def gap_items(
    session: Session, tenant_id: int, filters: Filters, *, max_items: int = MAX_ITEMS
) -> list[GapItem]:
    """The gap turns in the filter's range that kept their (masked) text, newest first."""
    rows = session.execute(
        select(
            TurnFact.turn_event_id,
            TurnFact.conversation_id,
            TurnFact.text_masked,
            TurnFact.language,
            TurnFact.local_day,
            TurnFact.decision,
            TurnFact.skill,
        )
        .where(
            TurnFact.tenant_id == tenant_id,
            TurnFact.gap,  # bare, as the partial index ix_analytics_turns_gap says it
            TurnFact.text_masked.is_not(None),
            filters.turns(),
        )
        .order_by(TurnFact.local_day.desc(), TurnFact.turn_event_id.desc())
        .limit(max_items)
    ).all()
    return [
        GapItem(
            turn_id=r.turn_event_id,
            conversation_id=str(r.conversation_id),
            text=r.text_masked or "",
            language=r.language,
            local_day=r.local_day,
            reason=r.decision if r.decision in GAP_REASONS else "low_confidence",
            skill=r.skill,
        )
        for r in rows
    ]


def gap_clusters(
    session: Session,
    tenant_id: int,
    filters: Filters,
    *,
    today: date,
    embedder: Embedder | None = None,
    max_items: int = MAX_ITEMS,
    max_distinct: int = MAX_DISTINCT,
    threshold: float | None = None,
    min_size: int = MIN_SIZE,
) -> list[GapCluster]:
    """Clusters of the gap turns in the filter's range, the newest `max_items` only. Pass the
    deployment's sentence encoder (`make_embedder(settings.embedder)`, loaded once per
    process) for clusters by meaning rather than by words."""
    return cluster_gaps(
        gap_items(session, tenant_id, filters, max_items=max_items),
        today=min(today, filters.until),
        since=filters.since,
        embedder=embedder,
        threshold=threshold,
        min_size=min_size,
        max_items=max_items,
        max_distinct=max_distinct,
    )


def score_clusters(
    clusters: Sequence[GapCluster],
    planted: Mapping[str, Sequence[str]],
    items: Sequence[GapItem],
) -> dict[str, Any]:
    """How well `clusters` recover planted topics ({topic: [question text]}); `items` are what
    was clustered (they map a cluster's turn ids back to texts, compared by `match_key`).
    Items of no planted topic are noise.

    - purity: of the planted items that landed in a cluster, the share whose cluster's
      majority label (noise counts as a label) is their own topic;
    - recall: per topic, the share of its items in the one cluster holding most of them,
      averaged over topics;
    - own_cluster: topics that are the majority of at least one cluster;
    - noise_in_topics: the share of members of topic-majority clusters that are noise."""
    topic_of = {match_key(t[:MAX_TEXT]): topic for topic, texts in planted.items() for t in texts}
    text_of = {it.turn_id: it.text for it in items}
    totals: Counter[str] = Counter()
    for it in items:
        topic = topic_of.get(match_key(it.text[:MAX_TEXT]))
        if topic is not None:
            totals[topic] += 1
    best: dict[str, int] = {}
    clustered = pure = topic_members = topic_noise = 0
    own: set[str] = set()
    for cluster in clusters:
        labels = [topic_of.get(match_key(text_of[t][:MAX_TEXT])) for t in cluster.turn_ids]
        counts = Counter(labels)
        majority = min(counts, key=lambda k: (-counts[k], k or ""))
        if majority is not None:
            own.add(majority)
            topic_members += len(labels)
            topic_noise += counts[None]
        for topic, n in counts.items():
            if topic is None:
                continue
            clustered += n
            pure += n if topic == majority else 0
            best[topic] = max(best.get(topic, 0), n)
    recalls = {topic: best.get(topic, 0) / n for topic, n in sorted(totals.items())}
    return {
        "topics": len(totals),
        "planted_items": sum(totals.values()),
        "clustered_planted": clustered,
        "purity": pure / clustered if clustered else 0.0,
        "recall": sum(recalls.values()) / len(recalls) if recalls else 0.0,
        "own_cluster": len(own),
        "noise_in_topics": topic_noise / topic_members if topic_members else 0.0,
        "clusters": len(clusters),
        "per_topic": recalls,
    }
