"""The baseline for `make bench-serve`: the FastAPI server a user would otherwise write by hand.

Same model, same input validation (the contract's pydantic model), one DataFrame per request.
Run by benchmarks/serve.py with uvicorn and the same worker count as the service.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from fastapi import FastAPI

from {{ cookiecutter.package }} import registry
from {{ cookiecutter.package }}.api_types import record_model
from {{ cookiecutter.package }}.settings import load_settings

settings = load_settings()
registry.use_project_store(settings)
stored = registry.get_model(settings, os.environ.get("MODEL_TAG") or None)
contract = registry.model_contract(stored)
pipeline = registry.load_pipeline(stored)
Record: Any = record_model(contract)
app = FastAPI()


@app.post("/predict")
def predict(record: Record) -> dict[str, Any]:
    """One record in, its class probabilities out."""
    scores = pipeline.predict_proba(pd.DataFrame([record.model_dump()]))[0]
    return {"probabilities": dict(zip(map(str, pipeline.classes_), scores.tolist(), strict=True))}


@app.post("/predict_batch")
def predict_batch(records: list[Record]) -> list[dict[str, Any]]:
    """A list of records in, their class probabilities out."""
    frame = pd.DataFrame([record.model_dump() for record in records])
    classes = list(map(str, pipeline.classes_))
    return [{"probabilities": dict(zip(classes, row, strict=True))} for row in pipeline.predict_proba(frame).tolist()]
