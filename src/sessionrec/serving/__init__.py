"""The HTTP service: FastAPI app, session stores, metrics and micro-batching.

Needs the ``serve`` extra (FastAPI, uvicorn, redis, prometheus-client).
"""

from sessionrec.serving.app import create_app
from sessionrec.serving.settings import ServeConfig

__all__ = ["ServeConfig", "create_app"]
