"""The baseline for `make bench-serve`: the FastAPI server a user would otherwise write by hand.

Same model, same input validation (the contract's pydantic model), one DataFrame per request
through the fitted scikit-learn pipeline, as a user would write it. Run by benchmarks/serve.py
with uvicorn and the same worker count as the service.
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
model = registry.load(settings, os.environ.get("MODEL_TAG") or None)
Record: Any = record_model(model.contract)
app = FastAPI()


def answer(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Predictions for the rows of a DataFrame of validated records: the model object's own answers."""
    return model.answers(model.predict_frame(frame))


@app.post("/predict")
def predict(record: Record) -> dict[str, Any]:
    """One record in, its prediction out."""
    return answer(pd.DataFrame([record.model_dump()]))[0]


@app.post("/predict_batch")
def predict_batch(records: list[Record]) -> list[dict[str, Any]]:
    """A list of records in, their predictions out."""
    return answer(pd.DataFrame([record.model_dump() for record in records]))
