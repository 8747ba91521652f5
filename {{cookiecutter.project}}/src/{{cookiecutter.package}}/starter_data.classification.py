"""The starter dataset: scikit-learn's Wisconsin breast-cancer data, so the project trains from day one.

``make data`` calls ``load`` because ``data.source`` in config/project.yaml names it. To train on
your own data, point ``data.source`` at a file committed to the repository, an https:// URL with
its ``data.sha256``, or a loader of yours (docs/own-data.md); then this module can go.
"""

from __future__ import annotations

import pandas as pd


def load() -> pd.DataFrame:
    """569 tumours, 30 measurements of cell nuclei, shipped inside scikit-learn (no download).

    Columns are renamed to snake_case to match config/contract.yaml, and the target
    is ``malignant`` (1 = malignant), the class a screening model is asked to find.
    """
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = bunch.data.rename(columns=lambda name: name.replace(" ", "_"))
    frame["malignant"] = (bunch.target == 0).astype("int64")
    return frame
