"""Bulk import and export of a tenant's roles, grants and memberships (JSON lines).

* :mod:`app.bulk.records`: the format, and parsing a body into a plan;
* :mod:`app.bulk.importer`: applying a plan in one transaction;
* :mod:`app.bulk.exporter`: the tenant as the same JSON lines, streamed;
* :mod:`app.bulk.router`: ``POST /api/bulk`` and ``GET /api/bulk``;
* :mod:`app.bulk.admin` and :mod:`app.cli.bulk`: ``auth-server import|export``.
"""
