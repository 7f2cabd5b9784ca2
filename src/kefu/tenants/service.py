"""Finding or creating the tenant a deployment serves."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.tenants.models import Tenant


def ensure_tenant(session: Session, slug: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        tenant = Tenant(slug=slug, name=slug)
        session.add(tenant)
        session.flush()
    return tenant
