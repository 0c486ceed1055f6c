"""The HTTP service: FastAPI app, session stores, metrics and micro-batching.

``sessionrec serve RUN_DIR`` (or ``create_app(run_dir)``) serves the run's model:

- ``POST /v1/recommend`` ``{"items": [...], "k": 20, "exclude_seen": false}``: stateless.
- ``POST /v1/sessions/{id}/events`` ``{"item": ...}``: append a click, recommend;
  ``GET`` / ``DELETE /v1/sessions/{id}``: read / forget a stored session.
- ``GET /v1/model``, ``/health``, ``/ready``, ``/metrics`` (Prometheus), ``/docs`` and
  ``/redoc`` (their assets served locally: they work offline).

Answers to bad input (always ``{"error": ..., "detail": ...}``): invalid JSON 400;
schema violations, ``k <= 0``, ``k > max_k``, an empty session or one longer than
``max_session_length``, a malformed session id 422; unknown session 404; body over
``max_body_bytes`` 413; model still loading or session store down 503. A session of
only unknown items is not an error: 200 with the most popular items and
``"fallback": true``. A ``k`` above the catalogue (within ``max_k``) returns the
whole catalogue.

Item ids follow :mod:`sessionrec.data.vocab`'s policy: an id that does not parse as
the catalogue's type is an unknown item, never an error; a request can fail only
itself (:mod:`~sessionrec.serving.batcher`). Store credentials are never shown
(:mod:`~sessionrec.serving.redaction`).

Needs the ``serve`` extra (FastAPI, uvicorn, redis, prometheus-client, fastapi-offline).
"""

from sessionrec.serving.app import create_app
from sessionrec.serving.settings import ServeConfig

__all__ = ["ServeConfig", "create_app"]
