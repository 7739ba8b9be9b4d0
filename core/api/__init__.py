"""The REST API, served under /api by `tokenworks serve` beside the portals:
``tokenworks.api.app.create_app`` builds it as a FastAPI application over the Host."""
