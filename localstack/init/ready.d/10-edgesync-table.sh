#!/bin/bash
# Creates edgesync's DynamoDB table the way template.yaml declares it
# (resource Table): pk/sk string keys, the KEYS_ONLY "terminals" index on
# tpk/tsk, the ALL "audit" index on apk/ask, on-demand billing, TTL on
# expiresAt. Idempotent: a table created before the audit index existed
# gets it added.
#
# LocalStack runs this from /etc/localstack/init/ready.d when it is ready;
# deploy.sh runs it from the host (awslocal then talks to localhost:4566).
# devstack/template's tests check that the schema here matches template.yaml.
set -euo pipefail

table="${TABLE_NAME:-edgesync}"

if awslocal dynamodb describe-table --table-name "$table" >/dev/null 2>&1; then
  echo "edgesync: table $table already exists"
else
  echo "edgesync: creating table $table"
  awslocal dynamodb create-table \
    --table-name "$table" \
    --billing-mode PAY_PER_REQUEST \
    --attribute-definitions \
      AttributeName=pk,AttributeType=S \
      AttributeName=sk,AttributeType=S \
      AttributeName=tpk,AttributeType=S \
      AttributeName=tsk,AttributeType=S \
      AttributeName=apk,AttributeType=S \
      AttributeName=ask,AttributeType=S \
    --key-schema \
      AttributeName=pk,KeyType=HASH \
      AttributeName=sk,KeyType=RANGE \
    --global-secondary-indexes \
      'IndexName=terminals,KeySchema=[{AttributeName=tpk,KeyType=HASH},{AttributeName=tsk,KeyType=RANGE}],Projection={ProjectionType=KEYS_ONLY}' \
      'IndexName=audit,KeySchema=[{AttributeName=apk,KeyType=HASH},{AttributeName=ask,KeyType=RANGE}],Projection={ProjectionType=ALL}' \
    >/dev/null
  awslocal dynamodb wait table-exists --table-name "$table"
fi

audit_index="$(awslocal dynamodb describe-table --table-name "$table" \
  --query "Table.GlobalSecondaryIndexes[?IndexName=='audit'].IndexName" --output text)"
if [ "$audit_index" != "audit" ]; then
  echo "edgesync: adding the audit index to table $table"
  awslocal dynamodb update-table --table-name "$table" \
    --attribute-definitions AttributeName=apk,AttributeType=S AttributeName=ask,AttributeType=S \
    --global-secondary-index-updates \
      '[{"Create":{"IndexName":"audit","KeySchema":[{"AttributeName":"apk","KeyType":"HASH"},{"AttributeName":"ask","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}}]' \
    >/dev/null
  awslocal dynamodb wait table-exists --table-name "$table"
fi

ttl_status="$(awslocal dynamodb describe-time-to-live --table-name "$table" \
  --query 'TimeToLiveDescription.TimeToLiveStatus' --output text 2>/dev/null || true)"
case "$ttl_status" in
  ENABLED|ENABLING)
    echo "edgesync: TTL on expiresAt already enabled" ;;
  *)
    awslocal dynamodb update-time-to-live --table-name "$table" \
      --time-to-live-specification Enabled=true,AttributeName=expiresAt >/dev/null
    echo "edgesync: TTL enabled on expiresAt" ;;
esac
