// Package emf writes fleet metrics as CloudWatch Embedded Metric Format
// log lines: a Lambda function prints them to standard output, and
// CloudWatch Logs turns them into metrics without any API call.
package emf
