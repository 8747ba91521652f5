#!/usr/bin/env bash
# Run a command with the object store's credentials a workflow step was given, the one place
# monitor.yml and retrain.yml read the prediction log's store from:
# - empty variables are unset: an unset secret arrives as "", which would hide the SDKs' other
#   credential sources (the runner's role, a profile);
# - AWS_ROLE_ARN set: the job's OIDC token (permission id-token: write) goes to a file, which the
#   AWS SDK exchanges for that role itself (AWS_WEB_IDENTITY_TOKEN_FILE), so no key is stored;
# - GOOGLE_CREDENTIALS set (a service account key as JSON): written to a private file named by
#   GOOGLE_APPLICATION_CREDENTIALS, and removed from the environment.
# Both files are deleted when the command ends; its exit code is this script's.
# Usage: with-store-credentials.sh SESSION_NAME COMMAND [ARGUMENT...]
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 SESSION_NAME COMMAND [ARGUMENT...]" >&2
  exit 2
fi
session=$1
shift

for name in AWS_ROLE_ARN AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY GOOGLE_CREDENTIALS \
  AZURE_STORAGE_ACCOUNT_NAME AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_TENANT_ID; do
  [ -n "${!name:-}" ] || unset "$name"
done

folder=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/store-credentials.XXXXXX")  # private (mode 700)
trap 'rm -rf "$folder"' EXIT

if [ -n "${AWS_ROLE_ARN:-}" ]; then
  if [ -z "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] || [ -z "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ]; then
    echo "::error title=No OIDC token::AWS_ROLE_ARN is set but the job cannot request a token: give it the permission id-token: write"
    exit 1
  fi
  if ! curl --fail --silent --show-error --header "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
    "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=sts.amazonaws.com" | jq --exit-status --raw-output .value \
    > "$folder/oidc-token"; then
    echo "::error title=No OIDC token::GitHub did not issue a token for sts.amazonaws.com (see the error above)"
    exit 1
  fi
  export AWS_WEB_IDENTITY_TOKEN_FILE="$folder/oidc-token" AWS_ROLE_SESSION_NAME="$session"
fi

if [ -n "${GOOGLE_CREDENTIALS:-}" ]; then
  printf '%s' "$GOOGLE_CREDENTIALS" > "$folder/google.json"
  export GOOGLE_APPLICATION_CREDENTIALS="$folder/google.json"
  unset GOOGLE_CREDENTIALS
fi

"$@"
