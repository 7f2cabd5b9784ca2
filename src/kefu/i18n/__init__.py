"""Message catalogs for user-facing text (bot replies, web UI), one YAML file per language.

Kept as plain YAML catalogs rather than gettext: operators edit them without a compile step,
and the lookup is a dict access on the hot path.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("zh", "en")
_DIR = Path(__file__).resolve().parent
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: faster


@cache
def catalog(lang: str) -> dict[str, str]:
    lang = lang if lang in LANGUAGES else "en"
    data = yaml.load((_DIR / f"{lang}.yaml").read_text(encoding="utf-8"), Loader=_LOADER)
    assert isinstance(data, dict)
    return {str(k): str(v) for k, v in data.items()}


def has(key: str, lang: str) -> bool:
    return key in catalog(lang)


def t(key: str, lang: str, **values: Any) -> str:
    """Translate `key`; falls back to English, then to the key itself so nothing crashes."""
    text = catalog(lang).get(key) or catalog("en").get(key) or key
    return text.format(**values) if values else text


def pick_language(accept_language: str | None, default: str) -> str:
    """Choose zh or en from an Accept-Language header."""
    if accept_language:
        for part in accept_language.split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in LANGUAGES:
                return code
    return default
