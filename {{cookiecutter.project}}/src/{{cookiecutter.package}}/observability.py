"""The project's own Prometheus metrics, served with BentoML's on ``/metrics``.

They are plain prometheus_client metrics (BentoML deprecated its wrapper); BentoML's workers
share them through its multiprocess registry, so create them once per process, at import.
"""

from __future__ import annotations

import json
from collections import Counter as Tally
from collections.abc import Collection
from typing import Any

import numpy as np
from prometheus_client import Counter, Histogram, Summary

from .http_guards import ASGIApp, Message, Receive, Scope, Send
from .model import Predictions

PREDICTIONS = Counter(
    name="model_predictions_total",
    documentation='Predictions served, by predicted class (regression: prediction="value")',
    labelnames=["prediction"],
)
SCORES = Histogram(
    name="model_prediction_score",
    documentation="Probability of the predicted class (classification)",
    buckets=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0),
)
VALUES = Summary(
    name="model_prediction_value",
    documentation="Predicted values (regression): their count and sum give the mean prediction",
)
VALIDATION_FAILURES = Counter(
    name="model_input_validation_failures_total",
    documentation="Request fields refused by input validation, by field",
    labelnames=["field"],
)
LOG_FAILURES = Counter(
    name="model_prediction_log_failures_total",
    documentation="Prediction-log rows or writes lost, by reason",
    labelnames=["reason"],
)


def observe_predictions(predictions: Predictions) -> None:
    """Count answers by class with the winning probability, or record the predicted values."""
    if predictions.probabilities is None:
        PREDICTIONS.labels(prediction="value").inc(len(predictions))
        for value in predictions.values:
            VALUES.observe(value)
        return
    for label, count in Tally(str(value) for value in predictions.values).items():
        PREDICTIONS.labels(prediction=label).inc(count)
    for score in np.max(predictions.probabilities, axis=1).tolist():
        SCORES.observe(score)


def count_prediction_log_failure(reason: str) -> None:
    """Callback for the prediction log."""
    LOG_FAILURES.labels(reason=reason).inc()


def failed_fields(body: bytes) -> list[str]:
    """Field names from BentoML's 400 body (``{"detail": [{"loc": [...]}, ...]}``)."""
    try:
        detail: Any = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return []
    if not isinstance(detail, list):
        return []
    fields = []
    for error in detail:
        names = [str(part) for part in error.get("loc", []) if isinstance(part, str)] if isinstance(error, dict) else []
        fields.append(names[-1] if names else "(body)")
    return fields


UNKNOWN_FIELD = "(unknown)"


class ValidationMetricsMiddleware:
    """Counts, per field, the validation errors in the 400 answers BentoML sends.

    Only the contract's features (and ``(body)``) get a label of their own: a field named by the
    client (an extra key) counts as ``UNKNOWN_FIELD``, so requests cannot add series to /metrics.
    """

    def __init__(self, app: ASGIApp, *, fields: Collection[str]) -> None:
        self.app = app
        self.labels = frozenset(fields) | {"(body)"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Watch POST responses; count the fields of each 400."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        body = bytearray()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 400:
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    for field in failed_fields(bytes(body)):
                        VALIDATION_FAILURES.labels(field=field if field in self.labels else UNKNOWN_FIELD).inc()
            await send(message)

        await self.app(scope, receive, send if scope["method"] != "POST" else watch)
