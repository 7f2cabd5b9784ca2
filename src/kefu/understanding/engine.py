"""The NLU engine: one customer message in, one `Parse` out (implements `Understander`).

Steps: normalise (aligned to the original text) -> detect script and language -> tokenise ->
embed once -> FAQ retrieval, intent classification and sentiment on that one vector ->
entities relative to the message time. Models are loaded by the caller (runtime) and shared;
nothing here reads files or talks to storage.
"""

from __future__ import annotations

import datetime as dt

from kefu.clock import utcnow
from kefu.errors import KefuError
from kefu.text.language import detect_language, detect_script
from kefu.text.normalize import key_of, normalize_aligned
from kefu.text.signals import emoji_in
from kefu.understanding.embeddings import Embedder
from kefu.understanding.entities import EntityExtractor
from kefu.understanding.faq import FaqMatcher
from kefu.understanding.intents import IntentModel
from kefu.understanding.parse import Lang, Parse
from kefu.understanding.sentiment import SentimentModel


class NluEngine:
    def __init__(
        self,
        faq: FaqMatcher,
        embedder: Embedder | None = None,
        intents: IntentModel | None = None,
        *,
        entities: EntityExtractor | None = None,
        sentiment: SentimentModel | None = None,
        timezone: dt.tzinfo = dt.UTC,
    ) -> None:
        if intents is not None and (embedder is None or intents.embedder != embedder.name):
            raise KefuError(
                f"the intent model {intents.version} was trained with the embedder "
                f"{intents.embedder!r}, but kefu runs {embedder.name if embedder else 'none'!r}: "
                "run `kefu train` again (or set KEFU_EMBEDDER back)",
                code="model_mismatch",
            )
        if sentiment is not None and (embedder is None or sentiment.embedder != embedder.name):
            raise KefuError(
                f"the sentiment model needs the embedder {sentiment.embedder!r}; set "
                "KEFU_EMBEDDER to it or train one with `kefu eval sentiment --train`",
                code="model_mismatch",
            )
        self.faq = faq
        self.embedder = embedder
        self.intents = intents
        self.entities = entities or EntityExtractor()
        self.sentiment = sentiment
        self.timezone = timezone

    def parse(self, text: str, language_hint: Lang, now: dt.datetime | None = None) -> Parse:
        """`now`: when the message was sent (relative dates: 明天, next Friday); default now."""
        aligned = normalize_aligned(text)
        has_text = bool(key_of(aligned.text))  # letters or digits: symbols alone mean nothing
        vector = self.embedder.embed([text])[0] if self.embedder is not None and has_text else None
        when = now or utcnow().astimezone(self.timezone)
        candidates = (
            self.faq.match(text, vector=vector, today=when.astimezone(self.timezone).date())
            if has_text
            else ()
        )
        intent = None
        if self.intents is not None and vector is not None:
            intent = self.intents.predict(text, vector)
        tokens = self.faq.tokenizer.tokenize(aligned)
        sentiment = None
        if self.sentiment is not None and has_text:
            sentiment = self.sentiment.predict(text, tokens, vector)
        return Parse(
            text=text,
            normalized=aligned.text,
            language=detect_language(aligned.text) or language_hint,
            faq=candidates,
            faq_outcome=self.faq.outcome(candidates),
            intent=intent.label if intent else None,
            intent_confidence=intent.confidence if intent else 0.0,
            intent_ranking=intent.ranking if intent else (),
            script=detect_script(aligned.text),
            tokens=tokens,
            emoji=emoji_in(text),
            entities=self.entities.extract(text, when, normalized=aligned),
            sentiment=sentiment,
        )
