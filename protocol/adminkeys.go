package protocol

import "slices"

// AdminOnlyConfigKeys are the top-level keys of a terminal's config that
// only an administrator may change with set_config: where and how the
// terminal connects (a new server_url with the old credential would hand
// that credential to whoever runs the new server), its credentials, its
// TLS settings, and log_inputs, which decides which files of the device
// become log lines readable by every role. "tls" stands for a whole
// object: any key under it is admin-only too.
//
// The cloud refuses an operator's desired config that changes one of them
// (fleet.Service.SetConfig); the Go agent bounds what remote config may
// change with its device policy, and never sends its credential to an
// origin it was not given together with that credential (docs/agent.md).
var AdminOnlyConfigKeys = []string{
	"terminal_id",
	"server_url",
	"token",
	"token_file",
	"allow_insecure",
	"ca_file",
	"proxy_url",
	"client_cert_file",
	"client_key_file",
	"tls",
	"log_inputs",
}

// IsAdminOnlyConfigKey reports whether a top-level config key is one of
// AdminOnlyConfigKeys. Keys are compared exactly (config keys are
// snake_case, and the agent reads them exactly).
func IsAdminOnlyConfigKey(key string) bool {
	return slices.Contains(AdminOnlyConfigKeys, key)
}
