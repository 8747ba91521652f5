"""A data contract inferred from a CSV or Parquet file (``contract infer``), for a person to review.

Writing ``config/contract.yaml`` by hand for a wide table is slow, and YAML has traps (unquoted
``No`` is a boolean, a name with ``: `` or ``#`` breaks a line). Inference turns the file's own
columns into a contract that validates that file, with bounds widened by a fixed rule so new
plausible values pass. It is a starting point: it describes one sample, not what is valid in the
world, so the file it writes says so and the command lists what to review.

The rules are fixed and few, so that a reviewer can predict every line of the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from pandas.api import types

from . import docs_pages, progress
from .api_types import field_name_problem
from .contract import (
    CategoricalFeature,
    CategoricalTarget,
    Contract,
    ContractViolationError,
    Feature,
    NumericFeature,
    NumericTarget,
)
from .data import atomic_write, read_table
from .errors import ConfigError, DataError, ProjectError
from .estimator import make_estimator
from .model import LOG_COLUMNS, PROBABILITY_PREFIX
from .settings import Settings

MARGIN = 0.5  # share of the observed range added on each side of a numeric bound
MAX_CATEGORIES = 50  # a text column with more distinct values is ID-like, not a category
MAX_CLASSES = 20  # an integer-valued target with at most this many values is a class label

RULES = f"""\b
Rules (review the result: it describes this file, not what is valid in the world):
- numbers (int, float) are numeric features, integer codes too; booleans and text are
  categorical, with the values seen as their categories (quoted strings);
- numeric bounds: the observed [min, max] widened by {MARGIN:g} x (max - min) on each side and
  rounded outward; a side the data does not cross stays at 0 (non-negative data: min 0);
- nullable: true where the file has missing values;
- left out, one line each: text with more than {MAX_CATEGORIES} distinct values or with more
  distinct values than half its rows (ID-like), single-valued or empty columns, dates, row
  numbers (0, 1, 2, ...), and names the API cannot take; none left is an error;
- the target: text, or integers with at most {MAX_CLASSES} distinct values, are classes
  (classification; a binary target's positive_class is its rarer class, the last on a tie);
  other numbers are a regression target with bounds by the same rule. A target with missing
  values, a single value or true/false values is refused."""


@dataclass(frozen=True)
class Inference:
    """The inferred contract, the rows it came from, and one notice per column left out."""

    contract: Contract
    rows: int
    left_out: list[str]


def bounds(low: float, high: float, *, integers: bool = False) -> tuple[float, float]:
    """[low, high] widened by MARGIN of its range on each side, rounded outward to two digits of the range.

    A side the data does not cross stays at 0: a physical quantity seen non-negative stays so.
    Integer data get integer bounds (a count of 1 to 6 may reach 9, not 8.5).
    """
    spread = high - low or abs(high) or 1.0  # callers pass low < high; a single value still gets a range
    exponent = math.floor(math.log10(spread)) - 1  # a step of a tenth of the range's leading digit
    if integers:
        exponent = max(exponent, 0)
    step, digits = 10.0**exponent, max(0, -exponent)
    widened_low = round(math.floor((low - MARGIN * spread) / step) * step, digits)
    widened_high = round(math.ceil((high + MARGIN * spread) / step) * step, digits)
    return (0.0 if low >= 0 else widened_low), (0.0 if high <= 0 else widened_high)


def _is_number(column: pd.Series) -> bool:
    return types.is_numeric_dtype(column) and not types.is_bool_dtype(column)


def _integral(values: pd.Series) -> bool:
    """Whether every (non-missing) number is a whole number, whatever the dtype (1.0 from a CSV with gaps)."""
    return bool((values.dropna() % 1 == 0).all())


def _is_row_number(column: pd.Series) -> bool:
    """0, 1, 2, ... (or any start): what a CSV written with its index holds in ``Unnamed: 0``."""
    return (
        types.is_integer_dtype(column)
        and len(column) > 2
        and not column.isna().any()
        and bool((column.diff().iloc[1:] == 1).all())
    )


def _left_out(name: str, column: pd.Series) -> str | None:
    """Why a column cannot be a feature, or None if it can."""
    if problem := field_name_problem(name):
        return f"its name {problem}: rename the column to use it"
    if name in LOG_COLUMNS or name.startswith(PROBABILITY_PREFIX):
        return "its name is one of the columns a prediction adds: rename the column to use it"
    values = column.dropna()
    if values.empty:
        return "every value is missing"
    if types.is_datetime64_any_dtype(column) or types.is_timedelta64_dtype(column):
        return "dates and durations are not features: derive numbers from them in your data"
    distinct = values.astype(str).nunique() if not _is_number(column) else values.nunique()
    if distinct == 1:
        return f"a single value ({values.iloc[0]!r}) tells the model nothing"
    if _is_number(column):
        return "a row number (consecutive integers)" if _is_row_number(column) else None
    if distinct > MAX_CATEGORIES or distinct > len(values) / 2:
        return (
            f"{distinct} distinct text values in {len(values)} rows: ID-like (more than {MAX_CATEGORIES}, "
            "or more than half the rows), not categories"
        )
    return None


def _feature(name: str, column: pd.Series) -> Feature:
    nullable = bool(column.isna().any())
    values = column.dropna()
    if _is_number(column):
        if not values.map(math.isfinite).all():
            raise DataError(f"{name}: {int((~values.map(math.isfinite)).sum())} infinite values; fix or drop them")
        low, high = bounds(float(values.min()), float(values.max()), integers=_integral(values))
        return NumericFeature(name=name, type="numeric", min=low, max=high, nullable=nullable)
    categories = sorted(values.astype(str).unique())  # as validation compares them: str(value)
    return CategoricalFeature(name=name, type="categorical", categories=categories, nullable=nullable)


def _target(name: str, column: pd.Series) -> CategoricalTarget | NumericTarget:
    missing = int(column.isna().sum())
    if missing:
        raise DataError(
            f"target {name!r}: {missing} of {len(column)} rows have no value; training needs a label on every "
            "row: drop or fill those rows first"
        )
    if column.nunique() < 2:
        raise DataError(f"target {name!r}: a single value ({column.iloc[0]!r}) in every row: nothing to learn")
    if types.is_bool_dtype(column):
        # Declared as 0/1 it would train, but the API would answer true/false where its schema says 0 or 1.
        raise DataError(
            f"target {name!r} holds true/false: a contract's classes are integers or text, so write the column "
            "as 0/1 or as labels (e.g. 'no'/'yes') and run again"
        )
    classes: list[int | str]
    if _is_number(column):
        integral = _integral(column)
        if not integral or column.nunique() > MAX_CLASSES:
            low, high = bounds(float(column.min()), float(column.max()), integers=integral)
            return NumericTarget(name=name, type="numeric", min=low, max=high)
        classes = sorted(int(value) for value in column.unique())
    elif all(isinstance(value, str) for value in column):
        classes = sorted(column.unique())
    else:
        raise DataError(f"target {name!r}: neither numbers nor text (dtype {column.dtype}): convert it to one of them")
    positive = None
    if len(classes) == 2:
        counts = column.value_counts()
        positive = min(reversed(classes), key=lambda label: counts[label])  # rarer; on a tie the last class
    return CategoricalTarget(name=name, classes=classes, positive_class=positive)


def infer_contract(frame: pd.DataFrame, target: str, *, source: str) -> Inference:
    """The contract of ``frame`` with ``target`` as its target, by the rules of RULES."""
    if target not in frame.columns:
        raise DataError(f"{source}: no column {target!r}; the columns are {', '.join(map(repr, frame.columns))}")
    if frame.empty:
        raise DataError(f"{source}: no rows to infer a contract from")
    contract_target = _target(target, frame[target])
    features: list[Feature] = []
    left_out: list[str] = []
    for name in frame.columns:
        if name == target:
            continue
        reason = _left_out(str(name), frame[name])
        if reason:
            left_out.append(f"left out {name!r}: {reason}")
        else:
            features.append(_feature(str(name), frame[name]))
    if not features:
        raise DataError(f"{source}: no column is left to be a feature:\n" + "\n".join(f"  {line}" for line in left_out))
    return Inference(Contract(target=contract_target, features=features), len(frame), left_out)


# -- YAML -------------------------------------------------------------------------------------


def _escape(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _quoted(text: str) -> str:
    """A YAML string that reads back as ``text``: single-quoted, or double-quoted with escapes if not printable."""
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return '"' + "".join(_escape(char) for char in text) + '"'


def _number(value: float) -> str:
    """A float as YAML 1.1 reads it back exactly (PyYAML needs a dot in ``1.0e-05``)."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    text = repr(value)
    mantissa, exponent, power = text.partition("e")
    return text if not exponent or "." in mantissa else f"{mantissa}.0e{power}"


def _scalar(value: object, key: str = "") -> str:
    if key == "type":
        return str(value)  # numeric or categorical: a keyword of the contract, not data
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    return _quoted(str(value))


FEATURE_KEYS = ("name", "type", "min", "max", "categories", "nullable")  # the order of a feature's line


def render(inference: Inference, source: str) -> str:
    """The contract file: a header saying where it came from and by which rules, then one line per feature."""
    contract = inference.contract
    header = [
        f"# The data contract, inferred from {source} ({inference.rows} rows) by `contract infer`.",
        "# REVIEW IT before training: it describes that file, not what is valid in the world.",
        f"# Numeric bounds: the observed range widened by {MARGIN:g} x (max - min) on each side, rounded",
        "# outward; a side the data does not cross stays at 0. Categories: the values seen; a value not",
        "# listed is refused. Integer codes are numeric: make them categorical if their order means nothing.",
        "# nullable: true where the file has missing values.",
        *(f"# {line}." for line in inference.left_out),
        "# Reference: docs/contract.md. Strings are quoted so YAML reads them as written.",
    ]
    target = contract.target.model_dump(exclude={"description"}, exclude_none=True)
    lines = [*header, "target:", *(f"  {key}: {_scalar(value, key)}" for key, value in target.items()), "features:"]
    for feature in contract.features:
        entries = feature.model_dump(exclude_none=True)
        lines.append(
            "  - {" + ", ".join(f"{key}: {_scalar(entries[key], key)}" for key in FEATURE_KEYS if key in entries) + "}"
        )
    return "\n".join(lines) + "\n"


def check_round_trip(text: str, contract: Contract) -> None:
    """Raise if the rendered YAML does not read back as exactly ``contract`` (a bug here, never the data's)."""
    again = Contract(**yaml.safe_load(text))
    if again != contract:
        raise RuntimeError(f"contract inference wrote YAML that reads back differently (a bug):\n{text}")


def infer_file(path: Path, target: str) -> tuple[Inference, str]:
    """Read, infer, check the contract validates its own file and reads back from its YAML; return it and the text."""
    with progress.phase(f"contract: reading {path.name}"):
        frame = read_table(path)
    with progress.phase(f"contract: inferring from {len(frame):,} rows, then checking them"):
        inference = infer_contract(frame, target, source=str(path))
        try:
            inference.contract.validate_frame(frame, source=str(path), with_target=True)
        except ContractViolationError as exc:
            raise RuntimeError(f"the inferred contract refuses the file it came from (a bug): {exc}") from None
    text = render(inference, str(path))
    check_round_trip(text, inference.contract)
    return inference, text


# -- writing and what to do next --------------------------------------------------------------


def refuse_overwrite(output: Path, *, force: bool) -> None:
    """An existing output is replaced only with --force: it may hold a reviewed contract."""
    if output.exists() and not force:
        raise ProjectError(f"{output} exists: pass --force (make contract ... FORCE=1) to overwrite it")


def is_project_contract(settings: Settings, output: Path) -> bool:
    """Whether ``output`` is the contract config/project.yaml names (whose docs tables are generated)."""
    return output.resolve() == settings.resolve(settings.contract).resolve()


def write(settings: Settings, output: Path, inference: Inference, text: str) -> list[Path]:
    """Write the contract and, if it is the project's, the docs tables made from it; each atomically."""
    pages = docs_pages.config_pages(settings, inference.contract) if is_project_contract(settings, output) else {}
    files = {output: text} | {settings.resolve(path): page for path, page in pages.items()}
    for path, content in files.items():
        with atomic_write(path) as temporary:
            temporary.write_text(content, encoding="utf-8")
    return list(files)


def next_steps(settings: Settings, contract: Contract, data: Path, output: Path) -> list[str]:
    """What to review and change before ``make train``, from the project's settings (which are not edited)."""
    task = contract.task
    steps = [f"review {output}: bounds, categories, integer codes, nullable (docs/contract.md)"]
    if not is_project_contract(settings, output):
        steps.append(f"config/project.yaml names {settings.contract} as the contract: point `contract:` at {output}")
    try:
        limits = settings.objectives.limits_for(task)
        named = ", ".join(limit.key for limit in limits) or "none set"
        steps.append(f"objectives for {task} in config/project.yaml ({named}): set them to what your use needs")
    except ConfigError as exc:
        steps.append(f"the target makes this {task}: change the objectives in config/project.yaml: {exc}")
    try:
        make_estimator(settings.training, task)
    except ConfigError as exc:
        steps.append(f"change config/project.yaml: {exc}")
    if data.resolve() != settings.data_path.resolve():
        steps.append(
            f"training reads data.path ({settings.data.path}): copy {data} there, or point data.source in "
            f"config/project.yaml at it (now {settings.data.source}; `make data` prepares data.path from it)"
        )
    steps.append("make train docs")
    return steps
