// Package fleet holds edgesync's sync rules: how terminals connect and
// authenticate, how the cloud pulls their status, config and logs, how that
// data is kept with freshness and retention, and how commands are tracked
// from pending to an outcome without any function waiting for a terminal.
//
// The package imports neither the AWS SDK nor aws-lambda-go. It talks to the
// outside through two small ports declared here: Store (persistence; see
// infra/dynamo and infra/embedded) and Pusher (sending a message to a
// connected terminal; see infra/apigw). Lambda handlers and the local stack
// adapt events to Service methods.
package fleet
