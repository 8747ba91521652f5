#!/usr/bin/env bash
# Bake the default project, build its bento and its image with Docker, run the container, and
# check /readyz and one prediction. Run by the template's CI on GitHub's runners (there is no
# Docker daemon where the template is developed). Usage: scripts/image_smoke.sh [work-folder]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-image-smoke}  # not hidden: BentoML refuses to build under a hidden folder
uv=${UV:-uv}
unset VIRTUAL_ENV

rm -rf "$work"
$uv run --locked cookiecutter --no-input --output-dir "$work" .
project=$(cd "$work"/* && pwd)
make -C "$project" --no-print-directory UV="$uv" install data train build
dockerfile=$(make -C "$project" --no-print-directory --silent UV="$uv" dockerfile)
docker build --tag mlops-smoke --file "$dockerfile" "${dockerfile%/env/docker/Dockerfile}"

container=$(docker run --detach --publish 127.0.0.1:3000:3000 --env API_KEY=smoke-key mlops-smoke)  # pragma: allowlist secret
trap 'docker logs "$container" | tail -n 50; docker rm --force "$container" >/dev/null' EXIT
for _ in $(seq 60); do
  curl --silent --fail --output /dev/null http://127.0.0.1:3000/readyz && break
  sleep 2
done
curl --silent --show-error --fail http://127.0.0.1:3000/readyz
record=$("$project/.venv/bin/python" -c '
import csv, json, sys
row = next(csv.DictReader(open(sys.argv[1])))
print(json.dumps({k: float(v) for k, v in row.items() if k != "malignant"}))' "$project/data/breast_cancer.csv")
answer=$(curl --silent --show-error --fail --request POST http://127.0.0.1:3000/predict \
  --header "X-API-Key: smoke-key" --header "Content-Type: application/json" --data "$record")
echo "POST /predict -> $answer"
grep -q '"model_version"' <<<"$answer"
