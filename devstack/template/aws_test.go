package template_test

import (
	"os"
	"regexp"
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
