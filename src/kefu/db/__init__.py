"""Storage plumbing shared by the domain packages: declarative base, column types, engine and
session factory, and Alembic migrations. Domain tables live with their domain
(`conversations/models.py`, `knowledge/models.py`, `tenants/models.py`).
"""
