package template_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestTemplatePartitionNeutral: the stack deploys in every AWS partition
// (aws, aws-cn, aws-us-gov), so no ARN or endpoint hard-codes the "aws"
// partition or the amazonaws.com suffix; they use ${AWS::Partition} and
// ${AWS::URLSuffix}. Service principals (apigateway.amazonaws.com) and
// parameter descriptions are exempt.
func TestTemplatePartitionNeutral(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	arn := regexp.MustCompile(`arn:aws:`)
	for i, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, "Principal:") ||
			strings.HasPrefix(trimmed, "AllowedPattern:") || strings.HasPrefix(trimmed, "Description:") {
			continue
		}
		if arn.MatchString(line) {
			t.Errorf("template.yaml:%d hard-codes the aws partition (use ${AWS::Partition}): %s", i+1, trimmed)
		}
		if strings.Contains(line, ".amazonaws.com") && strings.Contains(line, "!Sub") {
			t.Errorf("template.yaml:%d hard-codes amazonaws.com (use ${AWS::URLSuffix}): %s", i+1, trimmed)
		}
	}
}

// TestTemplateLogGroupsHaveRetention: every function logs to a log group
// of the stack with RetentionInDays from the LogRetentionDays parameter; a
// group Lambda creates on its own keeps logs forever.
func TestTemplateLogGroupsHaveRetention(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	if _, ok := tpl.Parameters["LogRetentionDays"]; !ok {
		t.Fatal("no LogRetentionDays parameter")
	}
	for _, fn := range tpl.ResourcesOfType("AWS::Serverless::Function") {
		r := tpl.Resources[fn]
		ref, _ := dig(r.Properties, "LoggingConfig", "LogGroup", "Ref").(string)
		if ref == "" {
			t.Errorf("%s: LoggingConfig.LogGroup is not a !Ref to a log group of the stack", fn)
			continue
		}
		lg, ok := tpl.Resources[ref]
		if !ok || lg.Type != "AWS::Logs::LogGroup" {
			t.Errorf("%s logs to %s, which is not an AWS::Logs::LogGroup of the template", fn, ref)
			continue
		}
		if got, _ := dig(lg.Properties, "RetentionInDays", "Ref").(string); got != "LogRetentionDays" {
			t.Errorf("%s: RetentionInDays = %v, want !Ref LogRetentionDays", ref, lg.Properties["RetentionInDays"])
		}
	}
}

// TestSamconfigNamesRequiredParameters: a non-guided `sam deploy` works once
// the user fills samconfig.toml's parameter_overrides line, so that line
// must name exactly the template parameters that have no default.
func TestSamconfigNamesRequiredParameters(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	var required []string
	for name, p := range tpl.Parameters {
		if !p.HasDefault {
			required = append(required, name)
		}
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^#? ?parameter_overrides = "([^"]*)"`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("samconfig.toml has no parameter_overrides line under [default.deploy.parameters]")
	}
	var named []string
	for _, kv := range strings.Fields(m[1]) {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			t.Errorf("parameter_overrides gives %s no example value", k)
		}
		named = append(named, k)
	}
	slices.Sort(required)
	slices.Sort(named)
	if !slices.Equal(named, required) {
		t.Errorf("samconfig.toml's parameter_overrides names %v; the template's parameters without defaults are %v", named, required)
	}
}
