"""Tenants: resolving a client key to an isolated namespace."""
