#!/bin/bash
# Deploys edgesync onto a running LocalStack (docker-compose.yml).
#
#   localstack/deploy.sh          community LocalStack: make sure the table
#                                 exists, then run the project's local runner
#                                 against it (printed at the end)
#   localstack/deploy.sh --full   LocalStack with an auth token whose plan
#                                 includes API Gateway v2: samlocal build and
#                                 deploy the whole template.yaml
#
# Needs awslocal (pip install awscli-local[ver1]) and, for --full, samlocal
# (pip install aws-sam-cli-local) and Go. See README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
endpoint="${LOCALSTACK_ENDPOINT:-http://localhost:4566}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export TABLE_NAME="${TABLE_NAME:-edgesync}"
stack="${STACK_NAME:-edgesync}"

full=false
case "${1:-}" in
  "") ;;
  --full) full=true ;;
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "deploy.sh: $1 not found; install it with: $2" >&2; exit 1; }
}

echo "== waiting for LocalStack at $endpoint"
for _ in $(seq 1 60); do
  if curl -fsS "$endpoint/_localstack/health" >/dev/null 2>&1; then break; fi
  sleep 2
done
curl -fsS "$endpoint/_localstack/health" >/dev/null || {
  echo "deploy.sh: LocalStack does not answer at $endpoint; start it with" >&2
  echo "  docker compose -f localstack/docker-compose.yml up -d --wait" >&2
  exit 1
}

if ! $full; then
  need awslocal "pip install 'awscli-local[ver1]'"
  echo "== table"
  "$here/init/ready.d/10-edgesync-table.sh"
  cat <<MSG

DynamoDB is ready on LocalStack (table $TABLE_NAME). Community LocalStack has
no API Gateway v2, so run the WebSocket and HTTP APIs with the project's local
runner, which uses the functions' own handler code, against it:

  go run ./cmd/edgesync-local --dynamodb-endpoint $endpoint

MSG
  exit 0
fi

need samlocal "pip install aws-sam-cli-local"
need go "https://go.dev/dl/"
cd "$root"
echo "== sam build"
# Smaller binaries: no RPC mode (provided.al2023 does not use it), no symbol table.
GOFLAGS="${GOFLAGS:-} -tags=lambda.norpc -ldflags=-s" samlocal build --cached=false
echo "== sam deploy (stack $stack)"
samlocal deploy \
  --stack-name "$stack" \
  --resolve-s3 \
  --capabilities CAPABILITY_IAM \
  --no-confirm-changeset \
  --no-fail-on-empty-changeset
echo "== outputs"
awslocal cloudformation describe-stacks --stack-name "$stack" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
