// Package apigw sends messages to connected terminals through the API
// Gateway management API (the @connections endpoint of a WebSocket API
// stage), and closes connections (fleet.ConnectionCloser). Pusher
// implements fleet.Pusher and translates the API's errors to
// fleet's: a connection that no longer exists (HTTP 410, GoneException) is
// fleet.ErrGone and a rate limit (LimitExceededException) is
// fleet.ErrThrottled.
package apigw
