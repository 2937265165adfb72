#!/bin/bash
# Deploys edgesync onto a running LocalStack (docker-compose.yml).
#
#   localstack/deploy.sh          any LocalStack: make sure the table exists,
#                                 then print the command that runs the
#                                 project's local runner against it
#   localstack/deploy.sh --full   samlocal build and deploy of the whole
#                                 template.yaml; the APIs only work on a
#                                 LocalStack plan with API Gateway v2
#
# Needs curl and awslocal (pip install 'awscli-local[ver1]'
# 'localstack-client>=2.1'); --full also samlocal (pip install
# 'aws-sam-cli-local>=1.68') and Go. Settings (environment, defaults):
#   LOCALSTACK_ENDPOINT  http://localhost:4566   given to awslocal and samlocal
#                                                as AWS_ENDPOINT_URL
#   TABLE_NAME           edgesync
#   STACK_NAME           edgesync                (--full)
#   AUTH_ISSUER          https://edgesync.local/issuer   (--full: AuthIssuer)
#   AUTH_AUDIENCE        edgesync-local          (--full: AuthAudience)
#   PARAMETER_OVERRIDES  empty                   (--full: more Name=Value pairs)
# See README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
endpoint="${LOCALSTACK_ENDPOINT:-http://localhost:4566}"
endpoint="${endpoint%/}"
# awslocal (through localstack-client 2.1 and later) and samlocal (1.68 and
# later) send every request to AWS_ENDPOINT_URL; it takes precedence over
# their deprecated LOCALSTACK_HOST, LOCALSTACK_HOSTNAME and EDGE_PORT.
export AWS_ENDPOINT_URL="$endpoint"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export TABLE_NAME="${TABLE_NAME:-edgesync}"
stack="${STACK_NAME:-edgesync}"
# The local stack's own issuer and audience (cmd/edgesync-local).
issuer="${AUTH_ISSUER:-https://edgesync.local/issuer}"
audience="${AUTH_AUDIENCE:-edgesync-local}"

full=false
case "${1:-}" in
  "") ;;
  --full) full=true ;;
  -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
  *) echo "deploy.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "deploy.sh: $1 not found; install it with: $2" >&2; exit 1; }
}

need curl "your system's package manager"
need awslocal "pip install 'awscli-local[ver1]' 'localstack-client>=2.1'"
if $full; then
  need samlocal "pip install 'aws-sam-cli-local>=1.68'"
  need go "https://go.dev/dl/"
fi

echo "== waiting for LocalStack at $endpoint"
health=""
for _ in $(seq 1 60); do
  if health="$(curl -fsS "$endpoint/_localstack/health" 2>/dev/null)"; then break; fi
  health=""
  sleep 2
done
if [ -z "$health" ]; then
  echo "deploy.sh: LocalStack does not answer at $endpoint; start it with" >&2
  echo "  docker compose -f localstack/docker-compose.yml up -d --wait" >&2
  exit 1
fi

if ! $full; then
  echo "== table"
  "$here/init/ready.d/10-edgesync-table.sh"
  cat <<MSG

DynamoDB is ready on LocalStack (table $TABLE_NAME). API Gateway v2 (the
WebSocket API, the HTTP API and the @connections management API) is not in
community LocalStack, so run the APIs with the project's local runner, which
invokes the functions' own handler code, against this table:

  go run ./cmd/edgesync-local --dynamodb-endpoint $endpoint --table $TABLE_NAME

MSG
  exit 0
fi

case "$health" in
  *'"apigatewayv2"'*) ;;
  *)
    cat >&2 <<MSG
deploy.sh: warning: this LocalStack lists no apigatewayv2 service (community
edition?). Its CloudFormation currently ignores or mocks resource types it
does not support, so the deploy goes on: the table, the functions and their
log groups are created, but the WebSocket and HTTP APIs are not, and the
WebSocketURL and HttpApiURL outputs lead nowhere. With
CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=0 the deploy fails instead.
MSG
    ;;
esac

cd "$root"
echo "== sam build"
# Smaller binaries: no RPC mode (provided.al2023 does not use it), no symbol table.
GOFLAGS="${GOFLAGS:-} -tags=lambda.norpc -ldflags=-s" samlocal build --cached=false
echo "== sam deploy (stack $stack)"
# AuthIssuer and AuthAudience have no defaults; the rest keep theirs unless
# PARAMETER_OVERRIDES names them.
overrides="AuthIssuer=$issuer AuthAudience=$audience${PARAMETER_OVERRIDES:+ $PARAMETER_OVERRIDES}"
samlocal deploy \
  --stack-name "$stack" \
  --region "$AWS_DEFAULT_REGION" \
  --parameter-overrides "$overrides" \
  --resolve-s3 \
  --capabilities CAPABILITY_IAM \
  --no-confirm-changeset \
  --no-fail-on-empty-changeset
echo "== outputs"
awslocal cloudformation describe-stacks --stack-name "$stack" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
