"""ASGI entry point for ``uvicorn billing.api.asgi:app`` (used by ``billing serve`` with several workers)."""

from billing.api.app import create_app

app = create_app()
