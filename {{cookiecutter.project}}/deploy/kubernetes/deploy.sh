#!/usr/bin/env bash
# Roll the API out to the cluster kubectl points at, then prove it answers; undo it if not.
# Usage: deploy/kubernetes/deploy.sh IMAGE   (IMAGE: ghcr.io/<owner>/<repository>:<version or sha-commit>)
# Env:   API_KEY (the key the API will require; stored in the Secret the Deployment mounts),
#        NAMESPACE (default: default). Called by .github/workflows/deploy.yml; runs the same here.
set -euo pipefail
image=${1:?usage: deploy.sh IMAGE}
: "${API_KEY:?API_KEY must be set: the API refuses requests without it}"
name={{ cookiecutter.project }}
here=$(cd "$(dirname "$0")" && pwd)
kube=(kubectl --namespace "${NAMESPACE:-default}")

"${kube[@]}" create secret generic "$name-api-key" --from-literal=api-key="$API_KEY" \
  --dry-run=client --output yaml | "${kube[@]}" apply --filename -
"${kube[@]}" apply --filename "$here/serviceaccount.yaml" --filename "$here/service.yaml" \
  --filename "$here/hpa.yaml" --filename "$here/pdb.yaml"
# The key's hash on the pod template: a new key (rotation) rolls the pods, which read it at start.
key_hash=$(printf '%s' "$API_KEY" | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16)
key_patch='{ "spec": { "template": { "metadata": { "annotations": { "'"$name"'/api-key-sha256": "'"$key_hash"'" } } } } }'
kubectl set image --local --filename "$here/deployment.yaml" "api=$image" --output yaml \
  | kubectl patch --local --filename - --type merge --patch "$key_patch" --output yaml \
  | "${kube[@]}" apply --filename -

undo() {
  echo "deploy.sh: $1; rolling back to the previous version" >&2
  "${kube[@]}" rollout undo "deployment/$name"
  "${kube[@]}" rollout status "deployment/$name" --timeout 10m
  exit 1
}

"${kube[@]}" rollout status "deployment/$name" --timeout 10m || undo "the rollout did not complete"

port=${SMOKE_PORT:-18080}
"${kube[@]}" port-forward "service/$name" "$port:80" >/dev/null &
forward=$!
trap 'kill "$forward" 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 30); do
  curl --silent --fail --output /dev/null "$base/readyz" && break
  sleep 2
done
curl --silent --show-error --fail --max-time 10 --request POST "$base/model_info" \
  --header "X-API-Key: $API_KEY" --header "Content-Type: application/json" --data '{}' \
  || undo "the smoke request (POST /model_info) failed"
echo "deploy.sh: $name runs $image"
