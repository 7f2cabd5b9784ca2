"""Identity and access: console accounts, sessions, API keys, roles and permissions."""
