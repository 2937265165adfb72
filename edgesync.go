// Package edgesync carries the SAM template of the deployed system, so the
// local stack (cmd/edgesync-local) reads the same routes, integrations and
// function environments wherever it runs.
package edgesync

import _ "embed"

// Template is template.yaml, the AWS SAM template `sam deploy` deploys.
//
//go:embed template.yaml
var Template []byte
