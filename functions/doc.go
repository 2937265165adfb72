// Package functions is the one registry of edgesync's Lambda functions: a
// function's name in template.yaml and its environment become a handler,
// through the same code whether the handler runs in AWS (the four
// functions/<name>/main.go call FromEnvironment) or in the local stack
// (devstack calls Handler with its own store and pusher). Adding a function
// is one entry in the registry, beside its route in template.yaml.
//
// It reads and checks the variables template.yaml sets (TABLE_NAME,
// CONNECTIONS_URL, the fleet durations, the query function's CORS and claim
// names), builds the AWS clients once (AWSClients: the DynamoDB store, the
// management-API pusher, EMF metrics), and wires them into a fleet.Service
// and the function's edge handler (package wsapi or httpapi).
//
// The AWS configuration is read from the variables Lambda sets (AWS_REGION
// and the execution role's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), and for a local DynamoDB AWS_ENDPOINT_URL_DYNAMODB
// (or AWS_ENDPOINT_URL), without the SDK's config package: see AWSConfig.
package functions
