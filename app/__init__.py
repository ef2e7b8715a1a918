"""auth: an RBAC authorization service."""

__version__ = "0.1.0"
