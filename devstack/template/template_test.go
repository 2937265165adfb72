package template_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/fleet"
)

// The project's template, two directories up.
var templatePath = filepath.Join("..", "..", "template.yaml")

func load(t *testing.T) *template.Template {
	t.Helper()
	tpl, err := template.Load(templatePath)
	if err != nil {
		t.Fatalf("Load(%s): %v", templatePath, err)
	}
	return tpl
}

// refsFor are values for the references the template's functions make to
// its resources and pseudo parameters.
var refsFor = map[string]string{
	"Table":          "edgesync-Table-1",
	"WebSocketApi":   "abc123",
	"AWS::Region":    "eu-west-1",
	"AWS::StackName": "edgesync-test",
}

func TestTemplateTransformAndFormat(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	if tpl.FormatVersion != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion = %q, want 2010-09-09", tpl.FormatVersion)
	}
	if !slices.Equal(tpl.Transform, []string{"AWS::Serverless-2016-10-31"}) {
		t.Errorf("Transform = %v, want [AWS::Serverless-2016-10-31]", tpl.Transform)
	}
}

func TestTemplateFunctions(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatalf("Functions: %v", err)
	}
	var ids []string
	for _, f := range fns {
		ids = append(ids, f.LogicalID)
	}
	wantIDs := []string{"ConnectFunction", "DisconnectFunction", "MessageFunction", "QueryFunction", "SchedulerFunction"}
	if !slices.Equal(ids, wantIDs) {
		t.Fatalf("functions = %v, want %v", ids, wantIDs)
	}
	for _, f := range fns {
		t.Run(f.LogicalID, func(t *testing.T) {
			t.Parallel()
			dir := "functions/" + strings.ToLower(strings.TrimSuffix(f.LogicalID, "Function"))
			checks := []struct {
				what      string
				got, want any
			}{
				{"CodeUri", f.CodeURI, dir},
				{"Handler", f.Handler, "bootstrap"},
				{"Runtime", f.Runtime, "provided.al2023"},
				{"Architectures", f.Architectures, []string{"arm64"}},
				{"Metadata.BuildMethod", f.BuildMethod, "go1.x"},
				{"LoggingConfig.LogFormat", dig(f.Properties, "LoggingConfig", "LogFormat"), "JSON"},
				{"MemorySize", f.Properties["MemorySize"], map[string]any{"Ref": "FunctionMemorySize"}},
			}
			for _, c := range checks {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
				}
			}
		})
	}
	if p := tpl.Parameters["FunctionMemorySize"]; p.Default != "128" {
		t.Errorf("FunctionMemorySize default = %q, want 128", p.Default)
	}
}

func TestTemplateTable(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	r, ok := tpl.Resources["Table"]
	if !ok || r.Type != "AWS::DynamoDB::Table" {
		t.Fatalf("Table = %+v, want an AWS::DynamoDB::Table", r)
	}
	p := r.Properties
	checks := []struct {
		what      string
		got, want any
	}{
		{"BillingMode", p["BillingMode"], "PAY_PER_REQUEST"},
		{"KeySchema", p["KeySchema"], []any{
			map[string]any{"AttributeName": "pk", "KeyType": "HASH"},
			map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
		}},
		{"AttributeDefinitions", p["AttributeDefinitions"], []any{
			map[string]any{"AttributeName": "pk", "AttributeType": "S"},
			map[string]any{"AttributeName": "sk", "AttributeType": "S"},
			map[string]any{"AttributeName": "tpk", "AttributeType": "S"},
			map[string]any{"AttributeName": "tsk", "AttributeType": "S"},
			map[string]any{"AttributeName": "apk", "AttributeType": "S"},
			map[string]any{"AttributeName": "ask", "AttributeType": "S"},
		}},
		{"GlobalSecondaryIndexes", p["GlobalSecondaryIndexes"], []any{
			map[string]any{
				"IndexName": "terminals",
				"KeySchema": []any{
					map[string]any{"AttributeName": "tpk", "KeyType": "HASH"},
					map[string]any{"AttributeName": "tsk", "KeyType": "RANGE"},
				},
				"Projection": map[string]any{"ProjectionType": "KEYS_ONLY"},
			},
			map[string]any{
				"IndexName": "audit",
				"KeySchema": []any{
					map[string]any{"AttributeName": "apk", "KeyType": "HASH"},
					map[string]any{"AttributeName": "ask", "KeyType": "RANGE"},
				},
				"Projection": map[string]any{"ProjectionType": "ALL"},
			},
		}},
		{"TimeToLiveSpecification", p["TimeToLiveSpecification"], map[string]any{"AttributeName": "expiresAt", "Enabled": true}},
		{"SSESpecification.SSEEnabled", dig(p, "SSESpecification", "SSEEnabled"), true},
		{"SSESpecification.KMSMasterKeyId", dig(p, "SSESpecification", "KMSMasterKeyId"),
			map[string]any{"Fn::If": []any{"HasTableKmsKey", map[string]any{"Ref": "TableKmsKeyArn"}, map[string]any{"Ref": "AWS::NoValue"}}}},
		{"PointInTimeRecovery", dig(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"), true},
		{"HasTableKmsKey", tpl.Conditions["HasTableKmsKey"],
			map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "TableKmsKeyArn"}, ""}}}}},
		{"TableKmsKeyArn default", tpl.Parameters["TableKmsKeyArn"].Default, ""},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

// statement is one IAM policy statement of a function, with the intrinsic
// Resource values rendered as their Fn::Sub / Fn::GetAtt text, and the
// partition keys it is limited to (dynamodb:LeadingKeys under
// ForAllValues:StringLike; nil when it has no such condition).
type statement struct {
	actions     []string
	resources   []string
	leadingKeys []string
	condition   map[string]any
}

// policyStatements returns the statements of a function's Policies, taking
// both branches of a conditional policy. Anything that is not an inline
// statement document (a managed policy or a SAM policy template) fails.
func policyStatements(t *testing.T, fn string, policies any) []statement {
	t.Helper()
	list, ok := policies.([]any)
	if !ok {
		t.Fatalf("%s: Policies is %T, want a list", fn, policies)
	}
	var out []statement
	var walk func(p any)
	walk = func(p any) {
		m, ok := p.(map[string]any)
		if !ok {
			t.Errorf("%s: policy %v is not an inline statement document", fn, p)
			return
		}
		if args, ok := m["Fn::If"].([]any); ok && len(args) == 3 {
			for _, branch := range args[1:] {
				if b, ok := branch.(map[string]any); ok && b["Ref"] == "AWS::NoValue" {
					continue
				}
				walk(branch)
			}
			return
		}
		stmts, ok := m["Statement"].([]any)
		if !ok || len(m) != 1 {
			t.Errorf("%s: policy %v is not an inline statement document", fn, p)
			return
		}
		for _, s := range stmts {
			sm := s.(map[string]any)
			if sm["Effect"] != "Allow" {
				t.Errorf("%s: statement %v: Effect is not Allow", fn, sm)
			}
			st := statement{actions: strs(sm["Action"]), resources: strs(sm["Resource"])}
			st.condition, _ = sm["Condition"].(map[string]any)
			if like, ok := st.condition["ForAllValues:StringLike"].(map[string]any); ok {
				st.leadingKeys = strs(like["dynamodb:LeadingKeys"])
			}
			out = append(out, st)
		}
	}
	for _, p := range list {
		walk(p)
	}
	return out
}

// strs renders a string, an intrinsic or a list of them as strings.
func strs(v any) []string {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, strs(e)...)
		}
		return out
	case string:
		return []string{x}
	case map[string]any:
		if s, ok := x["Fn::Sub"].(string); ok {
			return []string{s}
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return []string{fmt.Sprintf("${%s.%s}", ga[0], ga[1])}
		}
		if r, ok := x["Ref"].(string); ok {
			return []string{"${" + r + "}"}
		}
	}
	return []string{fmt.Sprint(v)}
}

var manageConnections = regexp.MustCompile(`^arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}:\$\{WebSocketApi\}/\$\{StageName\}/(POST|GET|DELETE)/@connections/\*$`)

func TestTemplateLeastPrivilege(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	// POST pushes to terminals; DELETE closes connections (a revoked
	// credential's, a deleted terminal's, one whose binding is gone).
	wantVerbs := map[string][]string{
		"ConnectFunction":    nil,
		"DisconnectFunction": nil,
		"MessageFunction":    {"DELETE", "POST"},
		"QueryFunction":      {"DELETE", "POST"},
		"SchedulerFunction":  {"POST"},
	}
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		if _, ok := wantVerbs[f.LogicalID]; !ok {
			t.Errorf("function %s has no expected permissions in this test: pin them", f.LogicalID)
		}
	}
	// The partitions (infra/dynamo's key prefixes) each function may write
	// items of, per write action: no WebSocket function writes a group
	// membership (G#) or the fleet-wide audit partition, and the query
	// function puts audit records but never updates or deletes one. Group
	// config rollouts (R#) are written by the functions that move them: the
	// query function (start, pause, resume, cancel, rollback), the message
	// function (terminals' answers, catch-ups at hello) and the scheduler
	// (waves due, deadlines); never by $connect or $disconnect.
	tc := []string{"T#*", "C#*"}
	tcr := []string{"C#*", "R#*", "T#*"}
	wantWrites := map[string]map[string][]string{
		"ConnectFunction":    {"dynamodb:PutItem": tc, "dynamodb:UpdateItem": tc, "dynamodb:DeleteItem": tc},
		"DisconnectFunction": {"dynamodb:UpdateItem": tc, "dynamodb:DeleteItem": tc},
		// The message function opens error-rate alerts (ALERT) and nothing else of them.
		"MessageFunction": {"dynamodb:PutItem": append(slices.Clone(tcr), "ALERT"), "dynamodb:UpdateItem": tcr, "dynamodb:DeleteItem": tcr},
		// The query function writes alert rules (ALERTRULE) and updates
		// alerts (acknowledging; clearing a deleted rule's), never puts one.
		"QueryFunction": {
			"dynamodb:PutItem":    {"ALERTRULE", "AUDIT", "C#*", "G#*", "R#*", "T#*"},
			"dynamodb:UpdateItem": {"ALERT", "R#*", "T#*"},
			"dynamodb:DeleteItem": {"ALERTRULE", "C#*", "G#*", "R#*", "T#*"},
		},
		// The scheduler opens, clears and marks alerts delivered; it never
		// writes a rule.
		"SchedulerFunction": {"dynamodb:PutItem": {"ALERT", "AUDIT", "R#*", "T#*"}, "dynamodb:UpdateItem": {"ALERT", "R#*", "T#*"}, "dynamodb:DeleteItem": {"R#*", "T#*"}},
	}
	reads := []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
	tableResources := []string{"${Table.Arn}", "${Table.Arn}/index/terminals", "${Table.Arn}/index/audit"}
	for fn, verbs := range wantVerbs {
		t.Run(fn, func(t *testing.T) {
			t.Parallel()
			f, err := tpl.Function(fn)
			if err != nil {
				t.Fatalf("Function: %v", err)
			}
			var gotVerbs []string
			gotWrites := map[string][]string{}
			published := false
			for _, s := range policyStatements(t, fn, f.Properties["Policies"]) {
				for _, a := range s.actions {
					if strings.Contains(a, "*") {
						t.Errorf("action %q has a wildcard", a)
					}
				}
				for _, r := range s.resources {
					if r == "*" {
						t.Errorf("statement %v allows every resource", s.actions)
					}
				}
				for _, a := range s.actions {
					service, _, _ := strings.Cut(a, ":")
					for _, r := range s.resources {
						switch service {
						case "dynamodb":
							if !slices.Contains(tableResources, r) {
								t.Errorf("%s on %q, want only the table and its indexes", a, r)
							}
							// Indexes are read only, and only by the query function.
							if strings.Contains(r, "/index/") && (a != "dynamodb:Query" || fn != "QueryFunction") {
								t.Errorf("%s on %q: only QueryFunction may Query the indexes", a, r)
							}
							if slices.Contains(reads, a) {
								continue
							}
							if s.leadingKeys == nil || len(s.condition) != 1 {
								t.Errorf("%s is not limited to partitions by a dynamodb:LeadingKeys condition alone (%v)", a, s.condition)
								continue
							}
							gotWrites[a] = append(gotWrites[a], s.leadingKeys...)
						case "execute-api":
							m := manageConnections.FindStringSubmatch(r)
							if a != "execute-api:ManageConnections" || m == nil {
								t.Errorf("%s on %q, want ManageConnections on the stage's @connections", a, r)
								continue
							}
							gotVerbs = append(gotVerbs, m[1])
						case "kms":
							if r != "${TableKmsKeyArn}" {
								t.Errorf("%s on %q, want only the table's key", a, r)
							}
						case "sns":
							// Only the scheduler delivers alerts, only to the alert topic.
							if a != "sns:Publish" || r != "${AlertTopicArn}" || fn != "SchedulerFunction" {
								t.Errorf("%s on %q by %s, want only the scheduler's sns:Publish on the AlertTopicArn topic", a, r, fn)
							}
							published = true
						default:
							t.Errorf("unexpected action %s", a)
						}
					}
				}
			}
			if published != (fn == "SchedulerFunction") {
				t.Errorf("publishes to SNS: %v, want only the scheduler to", published)
			}
			slices.Sort(gotVerbs)
			if !slices.Equal(gotVerbs, verbs) {
				t.Errorf("ManageConnections verbs = %v, want %v", gotVerbs, verbs)
			}
			for a := range gotWrites {
				slices.Sort(gotWrites[a])
			}
			want := wantWrites[fn]
			for a := range want {
				slices.Sort(want[a])
			}
			if !reflect.DeepEqual(gotWrites, want) {
				t.Errorf("writes by partition = %v, want %v", gotWrites, want)
			}
		})
	}
}

// TestTemplateThrottlingAndAccessLogs: both APIs throttle every route
// from parameters, and log access to log groups with a retention when
// AccessLogRetentionDays is not 0 (the default: off).
func TestTemplateThrottlingAndAccessLogs(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	api := tpl.Resources["HttpApi"]
	for key, param := range map[string]string{"ThrottlingBurstLimit": "HttpThrottlingBurstLimit", "ThrottlingRateLimit": "HttpThrottlingRateLimit"} {
		if got := dig(api.Properties, "DefaultRouteSettings", key); !reflect.DeepEqual(got, map[string]any{"Ref": param}) {
			t.Errorf("HttpApi DefaultRouteSettings.%s = %#v, want !Ref %s", key, got, param)
		}
		if p, ok := tpl.Parameters[param]; !ok || p.Default == "" {
			t.Errorf("parameter %s missing or without a default", param)
		}
	}
	if p := tpl.Parameters["AccessLogRetentionDays"]; p.Default != "0" {
		t.Errorf("AccessLogRetentionDays default %q, want 0 (access logging off unless asked for)", p.Default)
	}
	for res, group := range map[string]string{"HttpApi": "HttpApiAccessLogGroup", "WebSocketStage": "WebSocketAccessLogGroup"} {
		settings, _ := tpl.Resources[res].Properties["AccessLogSettings"].(map[string]any)
		args, _ := settings["Fn::If"].([]any)
		if len(args) != 3 || args[0] != "HasAccessLogs" {
			t.Errorf("%s AccessLogSettings = %#v, want !If [HasAccessLogs, …, !Ref AWS::NoValue]", res, settings)
			continue
		}
		on, _ := args[1].(map[string]any)
		if got := strs(on["DestinationArn"]); len(got) != 1 || got[0] != "${"+group+".Arn}" {
			t.Errorf("%s access logs go to %v, want %s", res, got, group)
		}
		if f, _ := on["Format"].(string); !strings.Contains(f, "$context.requestId") || !strings.Contains(f, "$context.identity.sourceIp") {
			t.Errorf("%s access log format %q, want at least the request id and the source IP", res, f)
		}
		lg := tpl.Resources[group]
		if lg.Type != "AWS::Logs::LogGroup" || !reflect.DeepEqual(lg.Properties["RetentionInDays"], map[string]any{"Ref": "AccessLogRetentionDays"}) {
			t.Errorf("%s: %s with RetentionInDays %v, want a log group kept AccessLogRetentionDays", group, lg.Type, lg.Properties["RetentionInDays"])
		}
	}
}

// TestTemplateScaleSettings pins SCALE.md's settings for large fleets:
// the WebSocket stage's route throttling at the account's throttle
// (10,000 requests/s, burst 5,000), DisconnectFunction's reserved
// concurrency (100, 0 for none), and the table's warm write throughput
// as a parameter that is off (0) by default.
func TestTemplateScaleSettings(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	for name, want := range map[string]string{
		"WebSocketThrottlingRateLimit": "10000", "WebSocketThrottlingBurstLimit": "5000",
		"DisconnectReservedConcurrency": "100", "TableWarmWriteUnits": "0",
	} {
		if p := tpl.Parameters[name]; p.Default != want || p.Type != "Number" {
			t.Errorf("parameter %s: %s default %q, want Number %s", name, p.Type, p.Default, want)
		}
	}
	for cond, param := range map[string]string{"HasDisconnectReservedConcurrency": "DisconnectReservedConcurrency", "HasTableWarmWriteUnits": "TableWarmWriteUnits"} {
		want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": param}, 0}}}}
		if got := tpl.Conditions[cond]; !reflect.DeepEqual(got, want) {
			t.Errorf("condition %s = %#v, want !Not [!Equals [!Ref %s, 0]]", cond, got, param)
		}
	}
	reserved := tpl.Resources["DisconnectFunction"].Properties["ReservedConcurrentExecutions"]
	want := map[string]any{"Fn::If": []any{"HasDisconnectReservedConcurrency", map[string]any{"Ref": "DisconnectReservedConcurrency"}, map[string]any{"Ref": "AWS::NoValue"}}}
	if !reflect.DeepEqual(reserved, want) {
		t.Errorf("DisconnectFunction ReservedConcurrentExecutions = %#v, want %#v", reserved, want)
	}
	for _, id := range []string{"ConnectFunction", "MessageFunction", "QueryFunction", "SchedulerFunction"} {
		if v, ok := tpl.Resources[id].Properties["ReservedConcurrentExecutions"]; ok {
			t.Errorf("%s ReservedConcurrentExecutions = %#v, want none (only $disconnect's wave is capped)", id, v)
		}
	}
	warm := tpl.Resources["Table"].Properties["WarmThroughput"]
	want = map[string]any{"Fn::If": []any{"HasTableWarmWriteUnits", map[string]any{"WriteUnitsPerSecond": map[string]any{"Ref": "TableWarmWriteUnits"}}, map[string]any{"Ref": "AWS::NoValue"}}}
	if !reflect.DeepEqual(warm, want) {
		t.Errorf("Table WarmThroughput = %#v, want %#v", warm, want)
	}
}

func TestTemplateParameterDefaultsMatchFleetDefaults(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	want := map[string]string{"ConfigTTL": "300", "LogsTTL": "1800", "StatusTTL": "60", "CommandTimeout": "10"}
	for name, w := range want {
		if got := tpl.Parameters[name].Default; got != w {
			t.Errorf("parameter %s default = %q, want %q", name, got, w)
		}
	}
	// The environment the template gives every function, read by the
	// domain's own config loader, must be exactly the domain's defaults.
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatalf("Functions: %v", err)
	}
	for _, f := range fns {
		env, err := tpl.FunctionEnvironment(f.LogicalID, refsFor)
		if err != nil {
			t.Fatalf("FunctionEnvironment(%s): %v", f.LogicalID, err)
		}
		got, err := fleet.LoadConfig(func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("%s: fleet.LoadConfig: %v", f.LogicalID, err)
		}
		if def := fleet.DefaultConfig(); !reflect.DeepEqual(got, def) {
			t.Errorf("%s: config from template defaults = %+v, want fleet.DefaultConfig() %+v", f.LogicalID, got, def)
		}
		if got.CommandTimeout != 10*time.Second {
			t.Errorf("%s: CommandTimeout = %v, want 10s", f.LogicalID, got.CommandTimeout)
		}
	}
}

func TestTemplateFunctionEnvironment(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	tests := []struct {
		fn     string
		params map[string]string
		want   map[string]string
	}{
		{"MessageFunction", nil, map[string]string{
			"TABLE_NAME":      "edgesync-Table-1",
			"CONNECTIONS_URL": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
			"LOG_LEVEL":       "INFO",
		}},
		{"ConnectFunction", map[string]string{"StageName": "dev", "ConfigTTL": "600"}, map[string]string{
			"CONNECTIONS_URL": "https://abc123.execute-api.eu-west-1.amazonaws.com/dev",
			"CONFIG_TTL":      "600",
		}},
		{"QueryFunction", nil, map[string]string{"CORS_ALLOW_ORIGINS": "*"}},
		{"QueryFunction", map[string]string{"AllowedOrigins": "https://a.example,https://b.example"},
			map[string]string{"CORS_ALLOW_ORIGINS": "https://a.example,https://b.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			t.Parallel()
			refs := map[string]string{}
			for k, v := range refsFor {
				refs[k] = v
			}
			for k, v := range tt.params {
				refs[k] = v
			}
			env, err := tpl.FunctionEnvironment(tt.fn, refs)
			if err != nil {
				t.Fatalf("FunctionEnvironment: %v", err)
			}
			for k, w := range tt.want {
				if env[k] != w {
					t.Errorf("%s = %q, want %q", k, env[k], w)
				}
			}
		})
	}
	if _, err := tpl.FunctionEnvironment("MessageFunction", nil); err == nil || !strings.Contains(err.Error(), "no value for Table") {
		t.Errorf("FunctionEnvironment without refs: error = %v, want no value for Table", err)
	}
}

func TestTemplateWebSocketAPI(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	expr, err := tpl.RouteSelectionExpression()
	if err != nil || expr != "$request.body.type" {
		t.Errorf("RouteSelectionExpression() = %q, %v, want $request.body.type", expr, err)
	}
	routes, err := tpl.WebSocketRoutes()
	if err != nil {
		t.Fatalf("WebSocketRoutes: %v", err)
	}
	want := []template.Route{
		{Key: "$connect", Function: "ConnectFunction", Integration: "ConnectIntegration"},
		{Key: "$default", Function: "MessageFunction", Integration: "DefaultIntegration"},
		{Key: "$disconnect", Function: "DisconnectFunction", Integration: "DisconnectIntegration"},
	}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("WebSocketRoutes() = %+v, want %+v", routes, want)
	}
	for id, routeKey := range map[string]string{"ConnectRoute": "$connect", "DisconnectRoute": "$disconnect", "DefaultRoute": "$default"} {
		if got := tpl.Resources[id].Properties["RouteKey"]; got != routeKey {
			t.Errorf("%s RouteKey = %v, want %s", id, got, routeKey)
		}
	}

	// Each function may be invoked by API Gateway only for its own route of
	// this API's stage.
	perms := map[string]string{}
	for _, id := range tpl.ResourcesOfType("AWS::Lambda::Permission") {
		p := tpl.Resources[id].Properties
		if p["Principal"] != "apigateway.amazonaws.com" || p["Action"] != "lambda:InvokeFunction" {
			t.Errorf("%s: Principal %v Action %v, want apigateway.amazonaws.com lambda:InvokeFunction", id, p["Principal"], p["Action"])
		}
		fn := strs(p["FunctionName"])[0]
		perms[fn] = strs(p["SourceArn"])[0]
	}
	for _, r := range want {
		wantArn := "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${StageName}/" + r.Key
		if got := perms["${"+r.Function+"}"]; got != wantArn {
			t.Errorf("permission of %s: SourceArn = %q, want %q", r.Function, got, wantArn)
		}
	}

	stage := tpl.Resources["WebSocketStage"]
	checks := []struct {
		what      string
		got, want any
	}{
		{"stage type", stage.Type, "AWS::ApiGatewayV2::Stage"},
		{"AutoDeploy", stage.Properties["AutoDeploy"], true},
		{"StageName", stage.Properties["StageName"], map[string]any{"Ref": "StageName"}},
		{"StageName default", tpl.Parameters["StageName"].Default, "prod"},
		{"ThrottlingBurstLimit", dig(stage.Properties, "DefaultRouteSettings", "ThrottlingBurstLimit"), map[string]any{"Ref": "WebSocketThrottlingBurstLimit"}},
		{"ThrottlingRateLimit", dig(stage.Properties, "DefaultRouteSettings", "ThrottlingRateLimit"), map[string]any{"Ref": "WebSocketThrottlingRateLimit"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

func TestTemplateHTTPAPI(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	routes, err := tpl.HTTPRoutes()
	if err != nil {
		t.Fatalf("HTTPRoutes: %v", err)
	}
	// Only the dashboard's files, the OpenAPI document and the health check
	// are public; everything else needs the JWT authorizer.
	want := []template.HTTPRoute{
		{API: "HttpApi", Method: "GET", Path: "/", Function: "QueryFunction", PayloadFormatVersion: "2.0"},
		{API: "HttpApi", Method: "GET", Path: "/healthz", Function: "QueryFunction", PayloadFormatVersion: "2.0"},
		{API: "HttpApi", Method: "GET", Path: "/openapi.yaml", Function: "QueryFunction", PayloadFormatVersion: "2.0"},
		{API: "HttpApi", Method: "GET", Path: "/ui/{proxy+}", Function: "QueryFunction", PayloadFormatVersion: "2.0"},
		{API: "HttpApi", Method: "DELETE", Path: "/{proxy+}", Function: "QueryFunction", PayloadFormatVersion: "2.0", Authorizer: "FrontendJwt"},
		{API: "HttpApi", Method: "GET", Path: "/{proxy+}", Function: "QueryFunction", PayloadFormatVersion: "2.0", Authorizer: "FrontendJwt"},
		{API: "HttpApi", Method: "POST", Path: "/{proxy+}", Function: "QueryFunction", PayloadFormatVersion: "2.0", Authorizer: "FrontendJwt"},
		{API: "HttpApi", Method: "PUT", Path: "/{proxy+}", Function: "QueryFunction", PayloadFormatVersion: "2.0", Authorizer: "FrontendJwt"},
	}
	// No authorized route may match OPTIONS (ANY does): API Gateway then
	// sends a browser's token-less CORS preflight to the authorizer, which
	// refuses it, instead of answering it from the CORS configuration.
	for _, r := range routes {
		if r.Authorizer != "" && (r.Method == "ANY" || r.Method == "OPTIONS") {
			t.Errorf("route %s %s has authorizer %s and matches OPTIONS: CORS preflights would get 401", r.Method, r.Path, r.Authorizer)
		}
	}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("HTTPRoutes() = %+v, want %+v", routes, want)
	}
	api := tpl.Resources["HttpApi"]
	jwt := dig(api.Properties, "Auth", "Authorizers", "FrontendJwt", "JwtConfiguration")
	if want := map[string]any{"issuer": map[string]any{"Ref": "AuthIssuer"}, "audience": map[string]any{"Ref": "AuthAudience"}}; !reflect.DeepEqual(jwt, want) {
		t.Errorf("JWT authorizer configuration = %#v, want issuer and audience from parameters %#v", jwt, want)
	}
	if api.Type != "AWS::Serverless::HttpApi" {
		t.Errorf("HttpApi type = %s, want AWS::Serverless::HttpApi", api.Type)
	}
	if got := dig(api.Properties, "CorsConfiguration", "AllowOrigins"); !reflect.DeepEqual(got, map[string]any{"Ref": "AllowedOrigins"}) {
		t.Errorf("CorsConfiguration.AllowOrigins = %#v, want !Ref AllowedOrigins", got)
	}
}

func TestTemplateOutputs(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	want := map[string]string{
		"WebSocketURL":   "wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}",
		"HttpApiURL":     "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
		"TableName":      "${Table}",
		"ConnectionsURL": "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}",
	}
	for name, w := range want {
		o, ok := tpl.Outputs[name]
		if !ok {
			t.Errorf("output %s missing", name)
			continue
		}
		if got := strs(o.Value)[0]; got != w {
			t.Errorf("output %s = %q, want %q", name, got, w)
		}
	}
}

// dig walks nested mappings.
func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// TestLocalStackTableMatchesTemplate checks that the LocalStack init script
// creates the table with the template's keys, index and TTL attribute.
func TestLocalStackTableMatchesTemplate(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	script, err := os.ReadFile(filepath.Join("..", "..", "localstack", "init", "ready.d", "10-edgesync-table.sh"))
	if err != nil {
		t.Fatalf("read init script: %v", err)
	}
	p := tpl.Resources["Table"].Properties
	var want []string
	for _, a := range p["AttributeDefinitions"].([]any) {
		m := a.(map[string]any)
		want = append(want, fmt.Sprintf("AttributeName=%s,AttributeType=%s", m["AttributeName"], m["AttributeType"]))
	}
	keySchema := func(ks any) []string {
		var out []string
		for _, k := range ks.([]any) {
			m := k.(map[string]any)
			out = append(out, fmt.Sprintf("AttributeName=%s,KeyType=%s", m["AttributeName"], m["KeyType"]))
		}
		return out
	}
	want = append(want, keySchema(p["KeySchema"])...)
	for _, g := range p["GlobalSecondaryIndexes"].([]any) {
		m := g.(map[string]any)
		want = append(want, fmt.Sprintf("IndexName=%s,KeySchema=[{%s}],Projection={ProjectionType=%s}",
			m["IndexName"], strings.Join(keySchema(m["KeySchema"]), "},{"), dig(m, "Projection", "ProjectionType")))
	}
	want = append(want,
		"--billing-mode "+p["BillingMode"].(string),
		fmt.Sprintf("Enabled=true,AttributeName=%s", dig(p, "TimeToLiveSpecification", "AttributeName")),
	)
	for _, w := range want {
		if !strings.Contains(string(script), w) {
			t.Errorf("localstack init script does not contain %q (template.yaml's Table)", w)
		}
	}
}

// TestTemplateMonitoring: the dashboard's body is valid JSON once
// substituted, and it and the alarms chart only metrics the code emits.
func TestTemplateMonitoring(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	emitted := map[string]bool{}
	for _, m := range []string{fleet.MetricConnects, fleet.MetricDisconnects, fleet.MetricConnectRefused, fleet.MetricFreshReads,
		fleet.MetricStaleReads, fleet.MetricSyncLatency, fleet.MetricLogDelay, fleet.MetricLogLines, fleet.MetricAPILatency,
		fleet.MetricProtocolErrors, fleet.MetricGone} {
		emitted[m] = true
	}
	dash := tpl.Resources["Dashboard"]
	if dash.Type != "AWS::CloudWatch::Dashboard" {
		t.Fatalf("Dashboard: type %q", dash.Type)
	}
	body, _ := dig(dash.Properties, "DashboardBody", "Fn::Sub").(string)
	resolved := regexp.MustCompile(`\$\{[^}]+\}`).ReplaceAllString(body, "x")
	var parsed struct {
		Widgets []struct {
			Properties struct {
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(resolved), &parsed); err != nil {
		t.Fatalf("dashboard body is not JSON: %v", err)
	}
	for _, w := range parsed.Widgets {
		for _, m := range w.Properties.Metrics {
			if len(m) > 1 && m[0] == "edgesync" && !emitted[fmt.Sprint(m[1])] {
				t.Errorf("dashboard charts %v, which no code emits", m[1])
			}
			if len(m) > 1 && m[0] == "." && !emitted[fmt.Sprint(m[1])] && !strings.HasPrefix(fmt.Sprint(m[1]), "Consumed") && !strings.Contains(fmt.Sprint(m[1]), "Throttle") && m[1] != "Errors" {
				t.Errorf("dashboard charts %v, which no code emits", m[1])
			}
		}
	}
	alarms := 0
	for id, r := range tpl.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		alarms++
		if ns, _ := r.Properties["Namespace"].(string); ns == "edgesync" {
			if name, _ := r.Properties["MetricName"].(string); !emitted[name] {
				t.Errorf("alarm %s watches %s, which no code emits", id, name)
			}
		}
	}
	if alarms < 5 {
		t.Errorf("alarms: %d, want the source's figures and function/table health covered", alarms)
	}
}

// TestReservedConcurrencyResolved: the local stack reads each function's
// reserved concurrency as CloudFormation resolves it: DisconnectFunction's
// is DisconnectReservedConcurrency (100 by default), none when that is 0
// (the condition's AWS::NoValue), and the other functions have none.
func TestReservedConcurrencyResolved(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	tests := []struct {
		name   string
		refs   map[string]string
		fn     string
		want   int
		wantOK bool
	}{
		{"default", nil, "DisconnectFunction", 100, true},
		{"parameter", map[string]string{"DisconnectReservedConcurrency": "250"}, "DisconnectFunction", 250, true},
		{"off", map[string]string{"DisconnectReservedConcurrency": "0"}, "DisconnectFunction", 0, false},
		{"other function", nil, "MessageFunction", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok, err := tpl.ReservedConcurrency(tt.fn, tt.refs)
			if err != nil || got != tt.want || ok != tt.wantOK {
				t.Errorf("ReservedConcurrency(%s) = %d, %v, %v; want %d, %v", tt.fn, got, ok, err, tt.want, tt.wantOK)
			}
		})
	}
}
