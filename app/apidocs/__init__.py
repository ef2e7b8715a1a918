"""The API's own documentation: ``/openapi.json`` exactly as the service answers
(:mod:`~app.apidocs.schema`), and Swagger UI and ReDoc served without a CDN
(:mod:`~app.apidocs.ui`).
"""
