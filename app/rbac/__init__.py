"""Roles, permissions, memberships and effective access."""
