"""Non-word signals in customer text. Emoji carry mood (😡, 🙏, 👍) that sentiment uses, so they
are collected from the original text before normalisation can disturb them."""

from __future__ import annotations

import emoji


def emoji_in(text: str) -> tuple[str, ...]:
    return tuple(found["emoji"] for found in emoji.emoji_list(text))
