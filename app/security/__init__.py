"""Credentials: client keys, the request gate, server secrets."""
