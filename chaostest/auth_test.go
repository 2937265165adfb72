package chaostest

import "github.com/edgesync/edgesync/devstack"

// bearer is the token the HTTP API accepts from an administrator.
func bearer(s *devstack.Stack) string { return s.Users["admin"] }
