"""Operator backends: the protocol (`base`), a demo backend in kefu's own database, HTTP."""
