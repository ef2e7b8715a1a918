"""Data protection and audit: encryption at rest, key rotation, the audit trail."""
