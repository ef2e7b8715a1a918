"""JWT access and refresh tokens (contract section 6)."""
