"""The starter dataset: scikit-learn's diabetes data, so the project trains from day one.

``make data`` calls ``load`` because ``data.source`` in config/project.yaml names it. To train on
your own data, point ``data.source`` at a file committed to the repository, an https:// URL with
its ``data.sha256``, or a loader of yours (docs/own-data.md); then this module can go.
"""

from __future__ import annotations

import pandas as pd

# scikit-learn's names -> the contract's (config/contract.yaml); s1..s6 are six blood serum measurements.
COLUMNS = {
    "age": "age",
    "sex": "sex",
    "bmi": "bmi",
    "bp": "blood_pressure",
    "s1": "total_cholesterol",
    "s2": "ldl",
    "s3": "hdl",
    "s4": "cholesterol_hdl_ratio",
    "s5": "log_triglycerides",
    "s6": "glucose",
}


def load() -> pd.DataFrame:
    """442 diabetes patients, 10 baseline measurements, shipped inside scikit-learn (no download).

    The measurements are in their original units (not scikit-learn's scaled form), renamed to
    snake_case to match config/contract.yaml; the target ``progression`` is a quantitative
    measure of disease progression one year after baseline.
    """
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True, scaled=False)
    frame: pd.DataFrame = bunch.data.rename(columns=COLUMNS)
    frame["progression"] = bunch.target.astype("float64")
    return frame
