package template

import (
	"reflect"
	"strings"
	"testing"
)

const wsBase = `
Resources:
  Api: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: "$request.body.action"}}
  Http: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: HTTP}}
  Fn: {Type: AWS::Serverless::Function}
  Raw: {Type: AWS::Lambda::Function}
  Bucket: {Type: AWS::S3::Bucket}
  SubInteg:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"
  JoinInteg:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Join ["", ["arn:aws:apigateway:", !Ref "AWS::Region", ":lambda:path/2015-03-31/functions/", !GetAtt Raw.Arn, "/invocations"]]
  MockInteg:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Api, IntegrationType: MOCK}
  BucketInteg:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Bucket.Arn}/invocations"
  HttpRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Http, RouteKey: "GET /", Target: !Sub "integrations/${MockInteg}"}
`

func TestWebSocketRoutes(t *testing.T) {
	t.Parallel()
	src := wsBase + `
  R1:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $connect, Target: !Sub "integrations/${SubInteg}"}
  R2:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: send, Target: !Join ["/", [integrations, !Ref JoinInteg]]}
`
	tpl, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got, err := tpl.WebSocketRoutes()
	if err != nil {
		t.Fatalf("WebSocketRoutes: %v", err)
	}
	want := []Route{
		{Key: "$connect", Function: "Fn", Integration: "SubInteg"},
		{Key: "send", Function: "Raw", Integration: "JoinInteg"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WebSocketRoutes() = %+v, want %+v", got, want)
	}
	expr, err := tpl.RouteSelectionExpression()
	if err != nil || expr != "$request.body.action" {
		t.Errorf("RouteSelectionExpression() = %q, %v, want $request.body.action", expr, err)
	}
}

func TestWebSocketRoutesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		extra   string
		wantErr string
	}{
		{"no routes", ``, "has no routes"},
		{"not a proxy integration", `
  R:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${MockInteg}"}`, "IntegrationType is MOCK, want AWS_PROXY"},
		{"integration invokes no function", `
  R:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${BucketInteg}"}`, "Bucket is not a function"},
		{"missing integration", `
  R:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${Nope}"}`, "integration Nope: no such resource"},
		{"literal target", `
  R:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: integrations/abc123}`, "does not name an integration"},
		{"no target", `
  R:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default}`, "no Target"},
		{"duplicate key", `
  R1:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${SubInteg}"}
  R2:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${SubInteg}"}`, "both have key $default"},
		{"second WebSocket API", `
  Api2: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET}}`, "2 WebSocket APIs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl, err := Parse([]byte(wsBase + tt.extra + "\n"))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = tpl.WebSocketRoutes()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("WebSocketRoutes() error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNoWebSocketAPI(t *testing.T) {
	t.Parallel()
	tpl, err := Parse([]byte("Resources:\n  A: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: HTTP}}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if _, err := tpl.RouteSelectionExpression(); err == nil || !strings.Contains(err.Error(), "ProtocolType WEBSOCKET") {
		t.Errorf("RouteSelectionExpression() error = %v, want no WebSocket API", err)
	}
}

func TestHTTPRoutes(t *testing.T) {
	t.Parallel()
	src := `
Resources:
  Api: {Type: AWS::Serverless::HttpApi}
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/items/{id}", Method: get}}
        Legacy: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /old, Method: post, PayloadFormatVersion: "1.0"}}
        Queue: {Type: SQS, Properties: {Queue: arn}}
  Catchall:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Default: {Type: HttpApi}
`
	tpl, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got, err := tpl.HTTPRoutes()
	if err != nil {
		t.Fatalf("HTTPRoutes: %v", err)
	}
	want := []HTTPRoute{
		{API: "ServerlessHttpApi", Method: "ANY", Path: "$default", Function: "Catchall", PayloadFormatVersion: "2.0"},
		{API: "Api", Method: "GET", Path: "/items/{id}", Function: "Reader", PayloadFormatVersion: "2.0"},
		{API: "Api", Method: "POST", Path: "/old", Function: "Reader", PayloadFormatVersion: "1.0"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HTTPRoutes() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestHTTPRoutesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		events  string
		wantErr string
	}{
		{"ApiId not a Ref", `E: {Type: HttpApi, Properties: {ApiId: abc, Path: /, Method: GET}}`, "is not a !Ref"},
		{"Path not literal", `E: {Type: HttpApi, Properties: {Path: !Ref P, Method: GET}}`, "Path is not a literal string"},
		{"Method not literal", `E: {Type: HttpApi, Properties: {Path: /, Method: 7}}`, "Method is not a literal string"},
		{"same route twice", "A: {Type: HttpApi, Properties: {Path: /, Method: GET}}\n        B: {Type: HttpApi, Properties: {Path: /, Method: get}}", "bound to both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        " + tt.events + "\n"
			tpl, err := Parse([]byte(src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = tpl.HTTPRoutes()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("HTTPRoutes() error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
