// Package template reads edgesync's AWS SAM template (template.yaml) so the
// local stack can run the same routes, integrations and function environment
// as the deployed one, and so tests can check the template's invariants.
//
// The YAML is decoded with gopkg.in/yaml.v3; CloudFormation's short-form
// intrinsic tags (!Ref, !Sub, !GetAtt, !Join, !If, !Equals, !Not, !Select,
// !Split and the rest) become their long forms as plain maps, e.g.
// {"Ref": "Table"} and {"Fn::Sub": "..."}. Only what the local stack needs is
// typed: WebSocket routes, HTTP API routes, function settings and
// environments. Everything else is available as decoded maps.
package template
