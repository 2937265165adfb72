// Package lambdaenv turns a Lambda function's environment into a ready
// fleet.Service: it reads and checks the variables template.yaml sets
// (TABLE_NAME, CONNECTIONS_URL and the fleet durations),
// builds the AWS clients once, and wires the DynamoDB store and the
// management-API pusher into the service. It is shared by the four
// functions/<name>/main.go, which do nothing else but start their handler.
//
// Endpoints follow the AWS SDK's own configuration: AWS_REGION (set by
// Lambda), and for a local DynamoDB, AWS_ENDPOINT_URL_DYNAMODB.
package lambdaenv
