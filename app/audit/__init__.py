"""The audit trail: hash-chained, per-tenant records of every change."""
