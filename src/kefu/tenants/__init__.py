"""Tenants: every row in kefu belongs to one. A default deployment has a single tenant."""
