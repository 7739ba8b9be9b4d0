"""The REST API, served under /api by `tokenworks serve` beside the portals.

``tokenworks.api.keys`` (API keys) imports no web framework, so the CLI and the portal
pages can manage keys without loading FastAPI; ``tokenworks.api.app.create_app`` builds
the FastAPI application.
"""
