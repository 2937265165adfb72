// Package wsfunctions holds the WebSocket API's three functions, $connect,
// $disconnect and $default, as functions.Function values: their mains pass
// them to functions.FromEnvironment, the local stack finds them in package
// registry. Their binaries link the WebSocket edge (wsapi) and nothing of
// the HTTP API or the dashboard.
package wsfunctions

import (
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/wsapi"
)

// Connect is the $connect function: it authenticates a terminal and binds
// the connection to it. It never pushes (API Gateway does not let $connect
// post to the connection it is accepting).
var Connect = functions.Function{Name: functions.Connect, Pushing: functions.NeverPushes,
	Build: func(svc *fleet.Service, _ func(string) string, _ functions.Clients) (any, error) {
		return wsapi.NewConnect(svc).Handle, nil
	}}

// Disconnect is the $disconnect function: the terminal goes offline unless
// a newer connection is current.
var Disconnect = functions.Function{Name: functions.Disconnect, Pushing: functions.NeverPushes,
	Build: func(svc *fleet.Service, _ func(string) string, _ functions.Clients) (any, error) {
		return wsapi.NewDisconnect(svc).Handle, nil
	}}

// Message is the $default function: every message a terminal sends.
var Message = functions.Function{Name: functions.Message, Pushing: functions.Pushes,
	Build: func(svc *fleet.Service, _ func(string) string, _ functions.Clients) (any, error) {
		return wsapi.NewMessage(svc).Handle, nil
	}}
