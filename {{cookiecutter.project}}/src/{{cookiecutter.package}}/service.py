"""The real-time API: one BentoML service whose request and response types come from the served model.

Start it with ``make serve``. The model is ``MODEL_TAG`` from the model store (default: the
latest version); its data contract defines the API, so the API always matches the model.
Requests are batched per event-loop turn (batching.py) and given to the model object as records
(straight to numpy), so a worker spends its time on the model, not on per-request DataFrames.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import TYPE_CHECKING, Annotated, Any

import bentoml
from pydantic import BaseModel, Field
from threadpoolctl import threadpool_limits

from . import registry, server_limits, upstream_patches
from .api_types import ModelInfo, prediction_model, record_model
from .batching import MicroBatcher
from .errors import ProjectError
from .http_guards import HttpGuard, load_api_key
from .log_shipping import LogShipper
from .model import Model
from .observability import ValidationMetricsMiddleware, count_prediction_log_failure, observe_predictions
from .prediction_log import PredictionLog
from .settings import load_settings

log = logging.getLogger(__name__)
upstream_patches.apply()

try:
    SETTINGS = load_settings()
    registry.use_project_store(SETTINGS)
    SERVED = registry.get_model(SETTINGS, os.environ.get("MODEL_TAG") or None)
    DOCS_UI = SETTINGS.serving.docs_ui_on()
    RUNTIME = SETTINGS.serving.runtime_choice()
    SHIPPING = SETTINGS.prediction_log_uri  # rotated log files go there (log_shipping.py), when set
    registry.graph_for(SERVED, RUNTIME)  # `onnx` for a version without a graph fails here, saying why
except ProjectError as exc:  # fail at once, with the message and not a traceback
    raise SystemExit(f"error: cannot start the service: {exc}") from None

CONTRACT = registry.stored_contract(SERVED)
SERVING = SETTINGS.serving
server_limits.apply(SERVING)
if TYPE_CHECKING:
    Record = BaseModel
    Prediction = BaseModel
else:
    Record = record_model(CONTRACT)
    Prediction = prediction_model(CONTRACT)
Records = Annotated[list[Record], Field(min_length=1, max_length=SERVING.max_batch_size)]


@bentoml.service(
    name=SETTINGS.model_name.replace("_", "-"),  # BENTOML_CONFIG_OVERRIDES addresses it by this name
    workers=SERVING.workers,
    traffic={"timeout": SERVING.timeout_s, "max_concurrency": SERVING.max_concurrency},
    http={"port": SERVING.port},
    # Per-request access lines and tracing cost more CPU than the model here; /metrics keeps
    # request counts and latencies. Turn them on with BENTOML_CONFIG_OVERRIDES if you need them.
    logging={"access": dict(enabled=SERVING.access_log)},
    tracing={"sample_rate": 0.0},
)
class Predictor:
    """Predicts the target of the data contract for one record or a batch."""

    model = bentoml.models.BentoModel(str(SERVED.tag))

    def __init__(self) -> None:
        self.ready = False
        # One thread per worker (OpenMP and BLAS, and n_jobs where the estimator has it): requests run
        # in parallel across workers, and waking a thread pool for a few rows costs more than it saves.
        threadpool_limits(limits=1)
        self.predictor: Model = registry.load_entry(self.model, RUNTIME).single_threaded()
        self.batcher: MicroBatcher[dict[str, Any], BaseModel] = MicroBatcher(self._predict)
        shipper = None if SHIPPING is None else LogShipper(SHIPPING, self.predictor.tag, count_prediction_log_failure)
        self.prediction_log = PredictionLog(
            SETTINGS.prediction_log_dir,
            on_failure=count_prediction_log_failure,
            shipper=shipper,
            rotate_s=SERVING.prediction_log_rotate_s,
        )
        self.predictor.predict_frame(self.predictor.reference.head(1))  # warm-up
        # Full collections over BentoML's large, long-lived heap caused the p99 tail: freeze what
        # exists now and collect the young generation less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 50, 1000)
        self.ready = True

    @bentoml.on_shutdown
    def flush_prediction_log(self) -> None:
        """On SIGTERM, write the rows still queued (and ship the last file) before the worker exits."""
        self.prediction_log.close()

    def __is_ready__(self) -> bool:
        """Ready once the model is loaded and has answered one warm-up prediction."""
        return self.ready

    def _predict(self, rows: list[dict[str, Any]]) -> list[BaseModel]:
        predictions = self.predictor.predict_records(rows)
        observe_predictions(predictions)
        # Built from the model's own outputs (and the IDs as validated), so validation would only re-check them.
        answers = [Prediction.model_construct(**answer) for answer in self.predictor.answers(predictions, rows)]
        self.prediction_log.append(self.predictor.log_rows(rows, predictions))
        return answers

    @bentoml.api
    async def predict(self, record: Record, /) -> Prediction:
        """Predict one record; the request body is the record itself."""
        (answer,) = await self.batcher.submit([dict(record.__dict__)])
        return answer

    @bentoml.api
    async def predict_batch(self, records: Records, /) -> list[Prediction]:
        """Predict a list of records, answered in order."""
        return list(await self.batcher.submit([dict(record.__dict__) for record in records]))

    @bentoml.api
    def model_info(self) -> ModelInfo:
        """The served model: tag, runtime, creation time, metrics, lineage labels and data contract."""
        version = registry.describe(self.model)
        return ModelInfo(
            tag=version.tag,
            task=self.predictor.task,
            runtime=self.predictor.runtime,
            estimator=version.metadata.get("estimator", "unknown"),
            created=version.created,
            metrics=version.metadata["metrics"],
            labels=version.labels,
            rows=version.metadata["rows"],
            contract=version.metadata["contract"],
        )


SERVICE: Any = Predictor  # a bentoml.Service at run time; mypy keeps the class type for decorated classes
SERVICE.add_asgi_middleware(ValidationMetricsMiddleware, fields=CONTRACT.record_fields)
API_KEY = load_api_key()
SERVICE.add_asgi_middleware(
    HttpGuard,
    api_key=API_KEY,
    max_body_bytes=SERVING.max_body_bytes,
    json_paths=frozenset(api.route for api in SERVICE.apis.values()),
    docs_ui=DOCS_UI,
)
if API_KEY is None:
    log.warning("API_KEY is not set: the API accepts requests without a key (set API_KEY or API_KEY_FILE)")
