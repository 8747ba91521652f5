"""The locust user that ``loadtest`` runs (``locust --locustfile`` loads this file; nothing imports it).

Each user sends reference records to ``/predict``, one at a time, at ``LOADTEST_USER_RPS`` requests
per second at most. ``loadtest`` sets the environment: LOADTEST_RECORDS (a JSON file of records),
LOADTEST_USER_RPS and LOADTEST_API_KEY (empty: no key).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

from locust import HttpUser, constant_throughput, task

RECORDS: list[dict[str, Any]] = json.loads(Path(os.environ["LOADTEST_RECORDS"]).read_text(encoding="utf-8"))
API_KEY = os.environ.get("LOADTEST_API_KEY", "")


class PredictUser(HttpUser):
    """Posts one record after another to /predict; an answer other than 200 counts as an error."""

    wait_time = constant_throughput(float(os.environ["LOADTEST_USER_RPS"]))

    def on_start(self) -> None:
        """Start at a random record, so that the users do not all send the same one."""
        start = random.randrange(len(RECORDS))  # noqa: S311 (spreads the load; not security)
        self.records = itertools.cycle(RECORDS[start:] + RECORDS[:start])
        self.headers = {"X-API-Key": API_KEY} if API_KEY else {}

    @task
    def predict(self) -> None:
        """One prediction request."""
        self.client.post("/predict", json=next(self.records), headers=self.headers, name="/predict")
