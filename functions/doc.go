// Package functions builds edgesync's Lambda handlers: a function (a
// Function value: its name in template.yaml, what it needs, how its
// handler is built) and its environment become a handler, through the same
// code whether it runs in AWS (each functions/<name>/main.go calls
// FromEnvironment with its function's value) or in the local stack
// (devstack calls Handler with its own store and pusher). The values live
// in packages of their own — wsfunctions, queryfunction, schedulerfunction
// — so that each binary links only its own edge; package registry lists
// them all, for the local stack and the tests. Adding a function is a value
// in such a package and one line in registry, beside its resource in
// template.yaml.
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
