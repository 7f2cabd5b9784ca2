"""Wiring: builds the storage, the bot and the conversation service from settings.

Shared by the faces (API, CLI chat) so they run the same code path. Nothing happens at import.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kefu.backends.factory import make_backend
from kefu.config import Settings
from kefu.conversations.engine import AnswerEngine, Trained
from kefu.conversations.locks import (
    ConversationLocks,
    DatabaseLocks,
    FallbackLocks,
    LocalLocks,
    RedisLocks,
)
from kefu.conversations.service import ConversationService
from kefu.db import migrate
from kefu.db.engine import READ_ONLY, make_engine, make_session_factory
from kefu.dialogue.skills import load_skills
from kefu.errors import NotReady
from kefu.handoff.service import HandoffService
from kefu.knowledge.entities import entity_declarations
from kefu.knowledge.intent_store import seed_intents
from kefu.knowledge.service import ImportResult, seed_defaults
from kefu.knowledge.training import TrainingService
from kefu.privacy.crypto import ensure_keyring
from kefu.privacy.pii import PiiDetector
from kefu.privacy.rules import pack_detector
from kefu.realtime.bus import EventBus, make_bus
from kefu.tenants.models import Tenant
from kefu.tenants.service import ensure_tenant
from kefu.understanding.embeddings import Embedder, make_embedder
from kefu.understanding.entities import EntityExtractor
from kefu.understanding.intents import IntentModel
from kefu.understanding.retrieval import Fusion, load_fusion
from kefu.understanding.sentiment import SentimentModel

if TYPE_CHECKING:
    from kefu.jobs import Jobs


def prepare_database(settings: Settings, engine: Engine | None = None) -> list[ImportResult]:
    """Apply pending migrations, create the tenant, and seed default knowledge if empty."""
    owned = engine is None
    engine = engine or make_engine(settings.effective_database_url)
    try:
        ensure_keyring(engine, settings)  # 0003 fills blind indexes for existing customers
        with _preparing(engine):
            migrate.upgrade(engine)
            with make_session_factory(engine, system=True).begin() as session:
                tenant = ensure_tenant(session, settings.tenant)
                if not settings.load_default_knowledge:
                    return []
                seed_intents(session, tenant.id)
                return seed_defaults(session, tenant)
    finally:
        if owned:
            engine.dispose()


# Any fixed 64-bit number, the same in every kefu process: the PostgreSQL advisory lock key.
_PREPARE_LOCK = 0x6B656675  # "kefu"


@contextmanager
def _preparing(engine: Engine) -> Iterator[None]:
    """Serialise database preparation across processes, so several servers started at once on
    a new database don't race to create the same tables: a PostgreSQL advisory lock, or for an
    SQLite file an exclusive lock on a file beside it."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.prepare-lock", "a+b") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
        return
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PREPARE_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PREPARE_LOCK})
            conn.commit()


def open_engine(settings: Settings) -> Engine:
    """An engine for commands that read or change data (not the schema): keys installed, and
    refused with a clear message when the schema is behind."""
    engine = make_engine(settings.effective_database_url)
    if migrate.pending(engine):
        engine.dispose()
        raise NotReady(
            "the database schema is not up to date: run `kefu db upgrade` (or `kefu serve`)",
            code="schema_outdated",
        )
    ensure_keyring(engine, settings)
    return engine


@dataclass(frozen=True)
class Models:
    embedder: Embedder | None
    intents: IntentModel | None
    fusion: Fusion | None
    sentiment: SentimentModel | None
    entities: EntityExtractor
    timezone: ZoneInfo


@dataclass(frozen=True)
class ModelsDir:
    """What `kefu train` writes (`<models_dir>/intent/current`, `faq.json`), for reloads."""

    folder: Path
    embedder: Embedder | None

    def stamp(self) -> str:
        parts = []
        for path in (
            self.folder / "intent" / "current",
            self.folder / "faq.json",
            self.folder / "sentiment.npz",
        ):
            try:
                parts.append(f"{path.stat().st_mtime_ns}:{path.stat().st_size}")
            except OSError:
                parts.append("-")
        return "|".join(parts)

    def load(self) -> Trained:
        intents = None
        if (self.folder / "intent" / "current").is_file():
            intents = IntentModel.load(self.folder / "intent")
        fusion = None
        if (self.folder / "faq.json").is_file():
            fusion = load_fusion(self.folder / "faq.json", self.embedder)
        own = self.folder / "sentiment.npz"
        sentiment: SentimentModel | None = SentimentModel.load(own if own.is_file() else None)
        if sentiment is not None and (
            self.embedder is None or sentiment.embedder != self.embedder.name
        ):
            sentiment = None  # made for another encoder: no sentiment rather than a wrong one
        return Trained(intents, fusion, sentiment)


def load_models(settings: Settings) -> Models:
    """The sentence encoder and the models, loaded once per process. A models directory
    without an intent model is fine (no intents until `kefu train`); the bundled sentiment
    model needs the default encoder, so another encoder runs without sentiment."""
    embedder = make_embedder(settings.embedder)
    trained = ModelsDir(settings.effective_models_dir, embedder).load()
    return Models(
        embedder,
        trained.intents,
        trained.fusion,
        trained.sentiment,
        EntityExtractor(*entity_declarations()),
        ZoneInfo(settings.timezone),
    )


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    tenant: Tenant
    conversations: ConversationService
    redis: redis.Redis | None
    pii: PiiDetector
    bus: EventBus
    handoffs: HandoffService
    _factories: dict[tuple[int, bool], sessionmaker[Session]] = field(
        default_factory=dict, repr=False
    )
    jobs: Jobs | None = None  # attached by the server or `kefu worker` (kefu.jobs.Jobs.start)

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(hours=self.settings.conversation_token_ttl_hours)

    @classmethod
    def build(
        cls, settings: Settings, engine: Engine | None = None, models: Models | None = None
    ) -> Runtime:
        """Everything one process serves with. `models`, loaded before a pre-forking server
        starts its workers, are shared copy-on-write; otherwise they are loaded here."""
        engine = engine or make_engine(settings.effective_database_url)
        ensure_keyring(engine, settings)
        if migrate.pending(engine):
            raise NotReady(
                "the database schema is not up to date: run `kefu db upgrade` (or `kefu serve`)",
                code="schema_outdated",
            )
        system = make_session_factory(engine, system=True)
        with system.begin() as session:
            tenant = ensure_tenant(session, settings.tenant)
        sessions = make_session_factory(engine, tenant_id=tenant.id)
        client: redis.Redis | None = None
        locks: ConversationLocks = LocalLocks()
        if settings.redis_url:
            # A Redis that drops packets must fail fast (then locks fall back), not hang.
            client = redis.Redis.from_url(
                settings.redis_url, socket_timeout=5, socket_connect_timeout=2
            )
            fallback = DatabaseLocks(engine) if engine.dialect.name == "postgresql" else locks
            locks = FallbackLocks(RedisLocks(client), fallback)
        reads = make_session_factory(engine, read_only=True, tenant_id=tenant.id)
        models = models or load_models(settings)
        pii = pack_detector()
        bot = AnswerEngine(
            reads,
            tenant.id,
            settings.faq_threshold,
            embedder=models.embedder,
            intents=models.intents,
            fusion=models.fusion,
            sentiment=models.sentiment,
            entities=models.entities,
            timezone=models.timezone,
            writes=sessions,
            models=ModelsDir(settings.effective_models_dir, models.embedder),
            skills=load_skills(),
            backend=make_backend(settings, engine),
        )
        service = ConversationService(
            engine,
            sessions,
            reads,
            tenant.id,
            bot,
            locks,
            max_chars=settings.max_message_chars,
            default_language=settings.default_language,
            pii=pii,
            bus=make_bus(settings.redis_url),
        )
        handoffs = HandoffService(service, service.bus)
        return cls(settings, engine, sessions, tenant, service, client, pii, service.bus, handoffs)

    @property
    def session_ttl(self) -> timedelta:
        return timedelta(hours=self.settings.session_ttl_hours)

    @cached_property
    def system_sessions(self) -> sessionmaker[Session]:
        """Sessions for work that spans tenants (sign-in lookups, retention, maintenance)."""
        return make_session_factory(self.engine, system=True)

    @cached_property
    def training(self) -> TrainingService:
        """Console retraining for the tenant this process serves; its runs go to the job
        queue once one is attached (`kefu.jobs.Jobs`), else to a thread."""
        settings = self.settings
        return TrainingService(
            self.sessions_for,
            self.tenant.id,
            settings.effective_models_dir,
            lambda: make_embedder(settings.embedder),  # the process's shared encoder
            on_promoted=lambda: self.conversations.bot.refresh(force=True),
        )

    def sessions_for(self, tenant_id: int, read_only: bool = False) -> sessionmaker[Session]:
        """Sessions that can only read and write `tenant_id`'s rows (`kefu.db.tenancy`); one
        factory per tenant and mode, made on first use (console requests ask for them)."""
        key = (tenant_id, read_only)
        factory = self._factories.get(key)
        if factory is None:
            factory = make_session_factory(self.engine, read_only, tenant_id=tenant_id)
            self._factories[key] = factory
        return factory

    def check_ready(self) -> dict[str, str]:
        """Probe the database (and Redis when configured); raise NotReady with the reason."""
        checks = {}
        try:
            with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise NotReady(f"database unavailable: {detail}") from exc
        if self.redis is not None:
            try:
                self.redis.ping()
                checks["redis"] = "ok"
            except redis.RedisError as exc:
                raise NotReady(f"redis unavailable: {exc}") from exc
        return checks

    def close(self) -> None:
        if self.jobs is not None:
            self.jobs.stop()
        self.bus.close()
        close_locks = getattr(self.conversations.locks, "close", None)
        if close_locks is not None:
            close_locks()
        self.conversations.bot.close()
        if self.redis is not None:
            self.redis.close()
        self.engine.dispose()
