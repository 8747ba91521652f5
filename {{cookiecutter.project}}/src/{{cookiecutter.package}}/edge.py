"""The edge bundle of a model version: its ONNX graph with a predictor that needs only onnxruntime and numpy.

``make edge`` writes ``dist/edge/<model>-<version>/``: ``model.onnx``, ``contract.json`` (the
features with their rules, the classes and output columns), ``predict.py`` (edge_predictor.py),
``requirements.txt`` and a README, and the same folder as ``<model>-<version>.tar.gz`` (the
release asset). Both are staged next to their targets and renamed into place, so a failed run
leaves no half-written bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import edge_predictor
from .model import Model

PREDICTOR = Path(edge_predictor.__file__)


def bundle_name(model: Model) -> str:
    """``<model>-<version>``: one folder per version."""
    return model.tag.replace(":", "-")


def contract_document(model: Model) -> dict[str, Any]:
    """What the standalone predictor needs to check rows and name its outputs."""
    return {
        "model": model.tag,
        "task": model.task,
        "features": [feature.model_dump(mode="json", exclude_none=True) for feature in model.contract.features],
        "classes": model.classes,
        "outputs": model.output_columns,
    }


def readme(model: Model, graph_bytes: int, total_bytes: int) -> str:
    """The bundle's README: what it holds, its sizes, and how to run it on a device."""
    onnx = model.metadata.get("onnx", {})
    metrics = ", ".join(f"{name} {value:.4g}" for name, value in model.metadata.get("metrics", {}).items())
    return f"""# {model.tag}: edge bundle

The {model.task} model `{model.tag}` as an ONNX graph, with a predictor that needs only
onnxruntime and numpy. Hold-out metrics: {metrics or "n/a"}. Parity with the scikit-learn
pipeline: {onnx.get("parity", "n/a")}.

| file | bytes |
|---|---|
| model.onnx | {graph_bytes} |
| the other files | {total_bytes - graph_bytes} |

## Run it

```bash
python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
.venv/bin/python predict.py input.csv predictions.csv     # or .jsonl in and/or out
```

The input holds the features of `contract.json` (CSV with a header, empty cell = missing; or
JSON lines, null = missing). Rows that break the contract stop the run with exit code 2 and a
list of the problems; nothing is written. The output holds each row's features, then
{", ".join(f"`{column}`" for column in model.output_columns)}.
"""


def write_bundle(model: Model, graph: bytes, out_dir: Path) -> Path:
    """Write the bundle of ``model`` under ``out_dir`` (replacing an older one of the same version)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / bundle_name(model)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{target.name}."))
    try:
        (staging / "model.onnx").write_bytes(graph)
        document = json.dumps(contract_document(model), indent=2) + "\n"
        (staging / "contract.json").write_text(document, encoding="utf-8")
        shutil.copyfile(PREDICTOR, staging / "predict.py")
        requirements = f"onnxruntime=={version('onnxruntime')}\nnumpy>=2.0\n"
        (staging / "requirements.txt").write_text(requirements, encoding="utf-8")
        total = sum(path.stat().st_size for path in staging.iterdir())
        (staging / "README.md").write_text(readme(model, len(graph), total), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be copied to devices
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def archive(bundle: Path) -> Path:
    """``<bundle>.tar.gz`` next to the folder, holding it under its own name."""
    target = bundle.with_name(f"{bundle.name}.tar.gz")
    fd, temporary = tempfile.mkstemp(dir=bundle.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with tarfile.open(temporary, "w:gz") as tar:
            tar.add(bundle, arcname=bundle.name)
        Path(temporary).chmod(0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
