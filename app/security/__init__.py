"""Credentials and secrets: who is asking, and what the server keeps secret.

* :mod:`~app.security.credentials`: the ``Authorization`` header parsed (no I/O).
* :mod:`~app.security.gate`: every ``/api`` request authenticated once, into a
  :class:`~app.security.principal.Principal`, and rate-limited before routing.
* :mod:`~app.security.principal`: the authenticated tenant and its token scope.
* :mod:`~app.security.failures`: failed authentication, counted and logged without
  the secret.
* :mod:`~app.security.secrets`, :mod:`~app.security.fresh_secrets`: server secrets,
  configured or generated once for development.
* :mod:`~app.security.cipher`, :mod:`~app.security.encryption`: Fernet field encryption
  with a keyed blind index, the start-up canary and re-encryption.
* :mod:`~app.security.production`: what ``AUTH_ENV=production`` refuses to start with.
"""
