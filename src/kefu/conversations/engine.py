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
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kefu.dialogue.pipeline import Pipeline
from kefu.dialogue.skills import Skills
from kefu.errors import KefuError
from kefu.knowledge.service import load_knowledge, store_vectors
from kefu.observability.timing import timed
from kefu.tenants.models import Tenant
from kefu.understanding.embeddings import Embedder
from kefu.understanding.engine import NluEngine
from kefu.understanding.entities import EntityExtractor
from kefu.understanding.faq import FaqMatcher
from kefu.understanding.intents import IntentModel
from kefu.understanding.retrieval import Fusion
from kefu.understanding.sentiment import SentimentModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trained:
    intents: IntentModel | None
    fusion: Fusion | None
    sentiment: SentimentModel | None


class TrainedModels(Protocol):
    def stamp(self) -> str: ...  # changes whenever `kefu train` writes something new

    def load(self) -> Trained: ...


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
        models: TrainedModels | None = None,
        skills: Skills | None = None,
        backend: Any = None,
    ) -> None:
        """`models`: where `kefu train` writes; a new intent model or FAQ fusion there is
        picked up like a knowledge change, without a restart."""
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
        self._models = models
        self._skills = skills
        self._backend = backend
        self._models_stamp = models.stamp() if models else ""
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
            # Only a saving: a database that refuses the write costs time, not answers.
            try:
                with self._writes.begin() as session:
                    tenant_row = session.get_one(Tenant, self._tenant_id)
                    store_vectors(session, tenant_row, matcher.fresh_vectors)
            except SQLAlchemyError as exc:
                logger.warning("could not store question vectors: %s", exc)
        self._checked = time.monotonic()
        # Each model stage timed into kefu_model_seconds{stage} (wrapped: the models stay bare).
        engine = NluEngine(
            timed(matcher, "faq", "match"),
            timed(self._embedder, "encoder", "embed"),
            timed(self._intents, "intent", "predict"),
            entities=timed(self._entities or EntityExtractor(), "entities", "extract"),
            sentiment=timed(self._sentiment, "sentiment", "predict"),
            timezone=self._timezone,
        )
        return Pipeline(engine, knowledge, self._threshold, self._skills, self._backend)

    def close(self) -> None:
        """Release the backend's connections (an HTTP backend pools them)."""
        close = getattr(self._backend, "close", None)
        if callable(close):
            close()

    def use_backend(self, backend: Any) -> None:
        """Swap the operator backend (tests inject failures; an operator reconfigures)."""
        self._backend = backend
        self._pipeline = self._build()

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
            stamp = self._models.stamp() if self._models else ""
            if stamp != self._models_stamp and self._models is not None:
                try:
                    trained = self._models.load()
                    self._intents = trained.intents
                    self._fusion = trained.fusion or self._fusion
                    self._sentiment = trained.sentiment
                except KefuError as exc:  # a half-written or foreign model: keep the old one
                    logger.warning("not loading the new models: %s", exc.message)
                else:
                    force = True
                self._models_stamp = stamp
            if force or revision != self._pipeline.knowledge.revision:
                try:
                    self._pipeline = self._build()
                except KefuError as exc:  # e.g. a model trained for another encoder
                    logger.error("kept the previous bot: %s", exc.message)
            self._checked = time.monotonic()
        finally:
            self._rebuild.release()
