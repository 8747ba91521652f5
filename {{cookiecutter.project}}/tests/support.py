"""Helpers shared by the tests: settings in a temporary folder and a synthetic mixed-type contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from {{ cookiecutter.package }}.contract import CategoricalFeature, Contract, NumericFeature, Target
from {{ cookiecutter.package }}.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def settings_in(folder: Path, **changes: object) -> Settings:
    """The project's own settings, with data and reports moved into ``folder``."""
    base = load_settings(ROOT / "config" / "project.yaml")
    update: dict[str, object] = {
        "contract": ROOT / "config" / "contract.yaml",
        "data": base.data.model_copy(update={"path": folder / "data.csv"}),
        "reports_dir": folder / "reports",
        "drift": base.drift.model_copy(update={"reports_dir": folder / "reports" / "drift"}),
    }
    return base.model_copy(update=update | changes)


MIXED = Contract(
    target=Target(name="churned", classes=["no", "yes"], positive_class="yes"),
    features=[
        NumericFeature(name="tenure_months", type="numeric", min=0, max=240),
        CategoricalFeature(name="plan", type="categorical", categories=["basic", "pro", "team"], nullable=True),
    ],
)


def mixed_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Synthetic churn data where both the numeric and the categorical feature carry signal."""
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(0, 120, rows).round(1)
    plan = rng.choice(["basic", "pro", "team"], rows)
    risk = (tenure < 24).astype(float) + (plan == "basic") * 1.0 + rng.normal(0, 0.3, rows)
    return pd.DataFrame({"tenure_months": tenure, "plan": plan, "churned": np.where(risk > 1.0, "yes", "no")})
