"""JWT access tokens and single-use refresh tokens (contract section 6).

* :mod:`~app.tokens.codec`: signing and verifying with python-jose (no I/O).
* :mod:`~app.tokens.service`: issuing, refreshing, revoking and resolving tokens.
* :mod:`~app.tokens.issuing`: ``/api/token``'s client authentication and scope, then issue.
* :mod:`~app.tokens.presented`: refresh and revocation of a token given in the body.
* :mod:`~app.tokens.bodies`: the OAuth routes' JSON or form bodies.
* :mod:`~app.tokens.router`: ``/api/token``, ``/api/token/refresh``, ``/api/token/revoke``.
* :mod:`~app.tokens.retention`: pruning token state that can no longer matter.
"""
