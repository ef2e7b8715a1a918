"""Per-user API keys: secrets for a tenant's users, validated inside the tenant.

:mod:`~app.apikeys.router` (HTTP only) calls :mod:`~app.apikeys.service`; keys are
stored as a keyed hash (:mod:`app.models.apikey`), never in the clear.
"""
