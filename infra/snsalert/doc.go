// Package snsalert delivers alerts (fleet.AlertPublisher) to an Amazon SNS
// topic with the AWS SDK's SNS client: one Publish per alert state change,
// the alert as JSON in the message, a one-line subject, and the group,
// state, kind and terminal as message attributes, so subscriptions can
// filter (a team's e-mail subscribed to its group's alerts only).
//
// Only the scheduler function publishes, so only its binary links this
// package (functions/scheduler passes it to the registry).
package snsalert
