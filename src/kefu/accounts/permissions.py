"""Roles and the permission matrix: the one place that says who may do what.

Routes ask for a permission, never for a role, so changing what a role may do is an edit here.
"""

from __future__ import annotations

import enum


class AccountRole(enum.StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    ANALYST = "analyst"


class Permission(enum.StrEnum):
    CONVERSATIONS_READ = "conversations:read"  # transcripts, PII masked
    PII_READ = "pii:read"  # unmask a transcript (each view is audited)
    KNOWLEDGE_READ = "knowledge:read"
    KNOWLEDGE_WRITE = "knowledge:write"
    ANALYTICS_READ = "analytics:read"
    CUSTOMERS_EXPORT = "customers:export"  # data-subject access: everything about one customer
    CUSTOMERS_ERASE = "customers:erase"
    AUDIT_READ = "audit:read"
    ACCOUNTS_MANAGE = "accounts:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    SETTINGS_MANAGE = "settings:manage"  # retention and other tenant settings
    HANDOFF_WORK = "handoff:work"  # serve customers live: inbox, take, reply, close
    HANDOFF_MANAGE = "handoff:manage"  # others' chats, agents' skills, canned responses


P = Permission
ROLE_PERMISSIONS: dict[AccountRole, frozenset[Permission]] = {
    AccountRole.ADMIN: frozenset(Permission),
    AccountRole.SUPERVISOR: frozenset(
        {
            P.CONVERSATIONS_READ,
            P.PII_READ,
            P.KNOWLEDGE_READ,
            P.KNOWLEDGE_WRITE,
            P.ANALYTICS_READ,
            P.CUSTOMERS_EXPORT,
            P.AUDIT_READ,
            P.HANDOFF_WORK,
            P.HANDOFF_MANAGE,
        }
    ),
    # Agents serve customers, so they may unmask a transcript they need (audited).
    AccountRole.AGENT: frozenset(
        {P.CONVERSATIONS_READ, P.PII_READ, P.KNOWLEDGE_READ, P.HANDOFF_WORK}
    ),
    # Analysts see numbers and masked transcripts, never PII.
    AccountRole.ANALYST: frozenset({P.CONVERSATIONS_READ, P.ANALYTICS_READ, P.KNOWLEDGE_READ}),
}

# What an integration's API key may be granted: no account or key management, so a leaked
# key can't mint more keys or accounts; no live chat, which is a person's work (an agent's
# chats, capacity and messages belong to a signed-in account).
API_KEY_SCOPES: frozenset[Permission] = frozenset(Permission) - {
    P.ACCOUNTS_MANAGE,
    P.API_KEYS_MANAGE,
    P.HANDOFF_WORK,
    P.HANDOFF_MANAGE,
}


def permissions_of(role: AccountRole) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]
