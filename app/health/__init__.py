"""Liveness (``/ping``, no I/O) and readiness (``/health``: the database answers and
takes writes), both without authentication.
"""
