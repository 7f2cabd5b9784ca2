"""Conversation review: the turns worth a person's look, and their verdicts (see service.py)."""
