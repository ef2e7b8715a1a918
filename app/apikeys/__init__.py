"""Per-user API keys: secrets for a tenant's users, validated inside the tenant."""
