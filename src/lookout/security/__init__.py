"""Accounts, roles and scopes, API keys, the hash-chained audit log, secrets at rest."""
