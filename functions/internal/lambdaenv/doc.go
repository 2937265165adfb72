// Package lambdaenv turns a Lambda function's environment into a ready
// fleet.Service: it reads and checks the variables template.yaml sets
// (TABLE_NAME, CONNECTIONS_URL and the fleet durations),
// builds the AWS clients once, and wires the DynamoDB store and the
// management-API pusher into the service. It is shared by the four
// functions/<name>/main.go, which do nothing else but start their handler.
//
// The AWS configuration is read from the variables Lambda sets (AWS_REGION
// and the execution role's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), and for a local DynamoDB AWS_ENDPOINT_URL_DYNAMODB
// (or AWS_ENDPOINT_URL), without the SDK's config package: see AWSConfig.
package lambdaenv
