#!/usr/bin/env bash
# Generate a project with the default answers and run its main job, printing where each artefact is:
# install, data, train (quality gate), models, batch predict, build the bento, serve it and query it,
# then check the served traffic for drift (and a shifted copy of it, which must be flagged), and
# rehearse the project's CI workflow step by step.
# Usage: scripts/demo.sh [output-folder]   (called by `make demo`; UV names the uv command)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo}
uv=${UV:-uv}
unset VIRTUAL_ENV  # the generated project uses its own .venv

rm -rf "$out"
$uv run --locked cookiecutter --no-input --output-dir "$out" .
project=$(cd "$out"/* && pwd)
package=$(basename "$project"/src/*)
python="$project/.venv/bin/python"

step() { printf '\n==> %s\n' "$*"; }
step "make install data train models predict build  (in $project)"
make -C "$project" --no-print-directory UV="$uv" install data train models predict build

step "Serving the model (make serve), then a few requests"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$project" && mkdir -p logs && BENTOML_PORT=$port exec "$project/.venv/bin/$package" serve >logs/serve.log 2>&1) &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
"$python" - "$port" "$project/data/breast_cancer.csv" <<'PY'
import csv, json, sys, time, urllib.error, urllib.request

port, data = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
for _ in range(120):
    try:
        urllib.request.urlopen(f"{base}/readyz", timeout=2)
        break
    except OSError:
        time.sleep(0.5)
else:
    sys.exit("the service did not become ready in 60 s")
every = list(csv.DictReader(open(data)))
rows = every[:3]
records = [{k: float(v) for k, v in row.items() if k != "malignant"} for row in rows]

def post(path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())

for record, row in zip(records, rows):
    status, answer = post("/predict", record)
    print(f"  POST /predict (true class {row['malignant']}) -> {status} {json.dumps(answer)}")
status, answers = post("/predict_batch", records)
print(f"  POST /predict_batch ({len(records)} records) -> {status}, predictions {[a['prediction'] for a in answers]}")
status, error = post("/predict", dict(records[0], mean_radius=-4.0))
print(f"  POST /predict (mean_radius=-4) -> {status} {json.dumps(error['detail'][0])}")
traffic = [{k: float(v) for k, v in row.items() if k != "malignant"} for row in every[100:400]]
status, answers = post("/predict_batch", traffic)
print(f"  POST /predict_batch ({len(traffic)} more records, the traffic the drift check reads) -> {status}")
PY
kill "$server"
wait "$server" 2>/dev/null || true
trap - EXIT
echo "  stopped the service (PID $server)"

step "make drift: the served traffic (logs/predictions) against the model's reference"
make -C "$project" --no-print-directory UV="$uv" drift

step "$package drift --current logs/shifted: the same traffic, 12 features scaled by 1.5 (must exit 1)"
"$python" - "$project/logs" <<'PY'
import json, pathlib, sys

logs = pathlib.Path(sys.argv[1])
rows = [json.loads(line) for path in sorted((logs / "predictions").glob("*.jsonl")) for line in path.open()]
features = [name for name in rows[0] if name not in ("timestamp", "prediction", "model_version")][:12]
(logs / "shifted").mkdir(exist_ok=True)
with (logs / "shifted" / "predictions-shifted.jsonl").open("w") as out:
    for row in rows:
        out.write(json.dumps(row | {name: row[name] * 1.5 for name in features}) + "\n")
PY
status=0
(cd "$project" && exec .venv/bin/"$package" drift --current logs/shifted) || status=$?  # make would say 2
[ "$status" -eq 1 ] || { echo "expected make drift to exit 1 (drift) on the shifted copy, got $status" >&2; exit 1; }
shifted_report=$(readlink -f "$project/reports/drift/latest")
served_report=$(find "$project/reports/drift" -mindepth 1 -maxdepth 1 -type d -name '2*' | sort | head -n 1)

step "make docs: the model card (with the shifted run's drift summary) and the site, built strictly"
started=$(date +%s)
make -C "$project" --no-print-directory UV="$uv" docs
echo "  docs built in $(( $(date +%s) - started )) s"

step "Rehearsal of .github/workflows/ci.yml: every run step of every job, as GitHub would run it"
$uv run --locked python scripts/rehearse_ci.py "$project"

store="$project/.bentoml"
step "Artefacts"
cat <<TXT
  project        $project
  training data  $project/data/breast_cancer.csv
  metrics        $project/reports/metrics.json
  model store    $store/models/$package
  latest model   $package:$(cat "$store/models/$package/latest")
  predictions    $project/predictions/breast_cancer.csv
  bento          $store/bentos/$(basename "$project")/$(cat "$store/bentos/$(basename "$project")/latest")
  prediction log $project/logs/predictions/
  drift (served) ${served_report%/}/report.html  (summary.json beside it)
  drift (shifted) $shifted_report/report.html
  server log     $project/logs/serve.log
  docs site      $project/site/index.html
  model card     $project/docs/model-card.md  (page: $project/site/model-card/index.html)
TXT
