#!/usr/bin/env bash
# Generate a project with the default answers and run its main job, printing where each artefact is.
# Usage: scripts/demo.sh [output-folder]   (called by `make demo`; UV names the uv command)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.demo}
uv=${UV:-uv}
unset VIRTUAL_ENV  # the generated project uses its own .venv

rm -rf "$out"
$uv run --locked cookiecutter --no-input --output-dir "$out" .
project=$(cd "$out"/* && pwd)
package=$(basename "$project"/src/*)

step() { printf '\n==> %s\n' "$*"; }
step "make install data train models predict  (in $project)"
make -C "$project" --no-print-directory UV="$uv" install data train models predict

store="$project/.bentoml/models/$package"
step "Artefacts"
cat <<TXT
  project        $project
  training data  $project/data/breast_cancer.csv
  metrics        $project/reports/metrics.json
  model store    $store
  latest model   $package:$(cat "$store/latest")
  predictions    $project/predictions/breast_cancer.csv
TXT
step "First predictions (prediction, probabilities, model version)"
head -n 4 "$project/predictions/breast_cancer.csv" | awk -F, '{print "  " $(NF-3) ", " $(NF-2) ", " $(NF-1) ", " $NF}'
