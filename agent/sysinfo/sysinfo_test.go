package sysinfo_test

import (
	"context"
	"testing"

	"github.com/edgesync/edgesync/agent/sysinfo"
)

func TestCollect(t *testing.T) {
	t.Parallel()
	c := &sysinfo.Collector{DiskPath: t.TempDir()}
	first := c.Collect(context.Background())
	second := c.Collect(context.Background())
	for _, s := range []sysinfo.Sample{first, second} {
		if len(s.Errors) > 0 {
			t.Errorf("errors: %v", s.Errors)
		}
		if s.Hostname == "" || s.UptimeSeconds == 0 || s.MemoryPercent <= 0 || s.MemoryPercent > 100 ||
			s.DiskPercent < 0 || s.DiskPercent > 100 || s.CPUPercent < 0 || s.CPUPercent > 100 || s.Load1 < 0 {
			t.Errorf("implausible sample %+v", s)
		}
	}
}

func TestCollectReportsUnreadableDisk(t *testing.T) {
	t.Parallel()
	c := &sysinfo.Collector{DiskPath: "/does/not/exist"}
	s := c.Collect(context.Background())
	if len(s.Errors) != 1 || s.DiskPercent != 0 {
		t.Errorf("sample %+v, want one error about the disk", s)
	}
}
