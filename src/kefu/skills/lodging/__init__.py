"""Skill pack: knowledge, flows, responses and actions."""
