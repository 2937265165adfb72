package chaostest

import "github.com/edgesync/edgesync/localrun"

// bearer is the token the HTTP API accepts from an administrator.
func bearer(s *localrun.Stack) string { return s.Users["admin"] }
