"""Tenants: isolated namespaces reached by a client key.

* :mod:`~app.tenants.tenancy`: the one helper every tenant-owned query goes through.
* :mod:`~app.tenants.service`: credentials resolved to tenants; open registration.
* :mod:`~app.tenants.rotation`: client-key rotation and recovery, one row swapped.
* :mod:`~app.tenants.router`: settings, rotation and recovery over HTTP.
* :mod:`~app.tenants.admin`: the operator's ``auth-server tenant ...``.
"""
