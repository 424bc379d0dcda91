"""The webhook receiver: a small ASGI (Starlette) app that authenticates MLflow registry
deliveries, records them durably and answers at once. It never calls MLflow or scans anything;
the worker (``mlgate hooks worker``) does that from the queue.

Answers:

====  =========================================================================================
202   accepted: recorded (committed to disk) for processing
200   a delivery id seen before (an MLflow retry or a replay): nothing new is recorded
400   malformed JSON, id or timestamp, or a timestamp outside the replay window
401   missing or wrong signature
405   not a POST
413   body over the limit (checked on Content-Length, then while reading)
503   the queue could not record the delivery (MLflow retries 5xx with the same delivery id)
====  =========================================================================================

Nothing is recorded for a rejected request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlgate.hooks.queue import Clock, EventQueue, GroupCommitWriter, NewEvent, subject_of
from mlgate.hooks.verify import DEFAULT_MAX_BODY, DEFAULT_TOLERANCE_S, Rejected, verify_request

log = logging.getLogger(__name__)

DEFAULT_PATH = "/webhooks/mlflow"


@dataclass
class ReceiverSettings:
    secrets: Sequence[bytes]
    max_body: int = DEFAULT_MAX_BODY
    tolerance_s: int = DEFAULT_TOLERANCE_S
    path: str = DEFAULT_PATH
    record_timeout_s: float = 10.0
    clock: Clock = field(default=time.time)


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise Rejected(400, "malformed Content-Length")
        if int(length) > limit:
            raise Rejected(413, f"body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Rejected(413, f"body over {limit} bytes")
    return bytes(body)


def _parse(body: bytes) -> tuple[str, str, str]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise Rejected(400, "body is not a JSON object")
    entity, action = payload.get("entity"), payload.get("action")
    if not isinstance(entity, str) or not isinstance(action, str) or not entity or not action:
        raise Rejected(400, "body has no entity/action")
    if not isinstance(payload.get("data"), dict):
        raise Rejected(400, "body has no data object")
    return entity, action, subject_of(payload)


def create_app(settings: ReceiverSettings, queue: EventQueue) -> Starlette:
    from mlgate.metrics import CONTENT_TYPE, Metrics

    writer = GroupCommitWriter(queue)
    metrics = Metrics()
    metrics.watch_queue(EventQueue(queue.path))  # its own connection, read at scrape time

    async def receive(request: Request) -> Response:
        try:
            body = await _read_body(request, settings.max_body)
            delivery_id, ts = verify_request(request.headers, body, settings.secrets, now=settings.clock(),
                                             tolerance_s=settings.tolerance_s)
            entity, action, subject = _parse(body)
        except Rejected as r:
            log.info("rejected a delivery from %s: %d %s", request.client.host if request.client else "-",
                     r.status, r.reason)
            metrics.deliveries.labels(outcome=f"rejected-{r.status}").inc()
            return JSONResponse({"status": "rejected", "reason": r.reason}, status_code=r.status)
        event = NewEvent(delivery_id, ts, entity, action, subject, body)
        try:
            new = await asyncio.wait_for(writer.submit(event), settings.record_timeout_s)
        except Exception as e:
            log.error("could not record delivery %s: %s", delivery_id, e)
            metrics.deliveries.labels(outcome="unavailable").inc()
            return JSONResponse({"status": "unavailable"}, status_code=503)
        metrics.deliveries.labels(outcome="accepted" if new else "duplicate").inc()
        if not new:
            return JSONResponse({"status": "duplicate", "delivery_id": delivery_id}, status_code=200)
        return JSONResponse({"status": "accepted", "delivery_id": delivery_id}, status_code=202)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def prometheus(_request: Request) -> Response:
        body = await asyncio.to_thread(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            writer.stop()

    return Starlette(
        routes=[Route(settings.path, receive, methods=["POST"]), Route("/healthz", health, methods=["GET"]),
                Route("/metrics", prometheus, methods=["GET"])],
        lifespan=lifespan,
    )
