"""Prefect flow for MLflow registry webhooks. Thin: the logic is
:func:`mlgate.hooks.process.handle_event` (scan a hand-registered version like the pre-publish
checkpoint, then sign and tag it or quarantine it). ``mlgate hooks worker`` calls this flow for
every recorded delivery; deployments load it by path (``flows/registry_hooks.py:registry_hook``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from mlgate.hooks.process import HookSettings, handle_event
from mlgate.lifecycle.tasks import retry_transient


@task(name="mlgate-registry-hook-process", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_transient,
      cache_policy=NONE)
def process_event(payload: dict[str, Any], delivery_id: str, tracking_uri: str | None) -> dict[str, Any]:
    """Only transient errors (network, throttling) are retried; a verdict never is."""
    return handle_event(payload, HookSettings.from_env(tracking_uri), delivery_id=delivery_id)


@flow(name="mlgate-registry-hook")
def registry_hook(payload: dict[str, Any], delivery_id: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """One registry event: check the model version it is about (sign and tag, or quarantine)."""
    return process_event(payload, delivery_id, tracking_uri)
