"""The bot the conversation service talks to: a pipeline rebuilt when knowledge changes.

Imports (`kefu kb import`) bump the tenant's knowledge revision; a running server notices within
about `check_interval` seconds and swaps in a new pipeline, built on a background thread so no
customer message waits for the rebuild.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kefu.dialogue.pipeline import Pipeline
from kefu.knowledge.service import load_knowledge, store_vectors
from kefu.tenants.models import Tenant
from kefu.understanding.embeddings import Embedder
from kefu.understanding.engine import NluEngine
from kefu.understanding.entities import EntityExtractor
from kefu.understanding.faq import FaqMatcher
from kefu.understanding.intents import IntentModel
from kefu.understanding.retrieval import Fusion
from kefu.understanding.sentiment import SentimentModel

logger = logging.getLogger(__name__)


class AnswerEngine:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        tenant_id: int,
        threshold: float | None,
        check_interval: float = 2.0,
        *,
        embedder: Embedder | None = None,
        intents: IntentModel | None = None,
        fusion: Fusion | None = None,
        sentiment: SentimentModel | None = None,
        entities: EntityExtractor | None = None,
        timezone: dt.tzinfo = dt.UTC,
        writes: sessionmaker[Session] | None = None,
    ) -> None:
        self._sessions = sessions
        self._writes = writes
        self._tenant_id = tenant_id
        self._threshold = threshold
        self._embedder = embedder
        self._intents = intents
        self._fusion = fusion
        self._sentiment = sentiment
        self._entities = entities
        self._timezone = timezone
        self._check_interval = check_interval
        self._rebuild = threading.Lock()
        self._checked = 0.0
        self._pipeline = self._build()

    def _build(self) -> Pipeline:
        with self._sessions() as session:
            tenant = session.get_one(Tenant, self._tenant_id)
            knowledge = load_knowledge(session, tenant)
        matcher = FaqMatcher(
            list(knowledge.entries.values()), self._embedder, self._fusion, knowledge.vectors
        )
        if matcher.fresh_vectors and self._writes is not None:
            # Keep the vectors with the entries: the next start or reload needn't encode again.
            with self._writes.begin() as session:
                store_vectors(
                    session, session.get_one(Tenant, self._tenant_id), matcher.fresh_vectors
                )
        self._checked = time.monotonic()
        engine = NluEngine(
            matcher,
            self._embedder,
            self._intents,
            entities=self._entities,
            sentiment=self._sentiment,
            timezone=self._timezone,
        )
        return Pipeline(engine, knowledge, self._threshold)

    @property
    def pipeline(self) -> Pipeline:
        if time.monotonic() - self._checked > self._check_interval and not self._rebuild.locked():
            # Check in the background: the message in hand is answered with what we have.
            self._checked = time.monotonic()
            threading.Thread(
                target=self.refresh, name="kefu-knowledge-refresh", daemon=True
            ).start()
        return self._pipeline

    def refresh(self, force: bool = False) -> None:
        if not self._rebuild.acquire(blocking=force):
            return  # another thread is already checking; keep answering with the current one
        try:
            with self._sessions() as session:
                revision = session.scalar(
                    select(Tenant.knowledge_revision).where(Tenant.id == self._tenant_id)
                )
            if force or revision != self._pipeline.knowledge.revision:
                self._pipeline = self._build()
            self._checked = time.monotonic()
        finally:
            self._rebuild.release()
