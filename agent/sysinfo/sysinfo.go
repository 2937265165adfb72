package sysinfo

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
)

// Sample is one set of host metrics. A metric that could not be read is
// zero and explained in Errors.
type Sample struct {
	Hostname      string   `json:"hostname,omitempty"`
	CPUPercent    float64  `json:"cpu_percent"`
	MemoryPercent float64  `json:"memory_percent"`
	DiskPercent   float64  `json:"disk_percent"`
	DiskPath      string   `json:"disk_path,omitempty"`
	Load1         float64  `json:"load1"`
	Load5         float64  `json:"load5"`
	Load15        float64  `json:"load15"`
	UptimeSeconds uint64   `json:"uptime_seconds"`
	Errors        []string `json:"errors,omitempty"`
}

// Collector samples metrics. CPU usage is measured between consecutive
// calls (since boot on the first). It is safe for concurrent use.
type Collector struct {
	// DiskPath is the path whose filesystem usage is reported.
	DiskPath string

	mu   sync.Mutex
	last cpu.TimesStat
}

// Collect samples the metrics now.
func (c *Collector) Collect(ctx context.Context) Sample {
	var s Sample
	fail := func(what string, err error) {
		s.Errors = append(s.Errors, fmt.Sprintf("%s: %v", what, err))
	}
	if h, err := os.Hostname(); err == nil {
		s.Hostname = h
	} else {
		fail("hostname", err)
	}
	if times, err := cpu.TimesWithContext(ctx, false); err == nil && len(times) == 1 {
		c.mu.Lock()
		s.CPUPercent = busyPercent(c.last, times[0])
		c.last = times[0]
		c.mu.Unlock()
	} else if err != nil {
		fail("cpu", err)
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		s.MemoryPercent = round(vm.UsedPercent)
	} else {
		fail("memory", err)
	}
	path := c.DiskPath
	if path == "" {
		path = "/"
	}
	s.DiskPath = path
	if du, err := disk.UsageWithContext(ctx, path); err == nil {
		s.DiskPercent = round(du.UsedPercent)
	} else {
		fail("disk", err)
	}
	if avg, err := load.AvgWithContext(ctx); err == nil {
		s.Load1, s.Load5, s.Load15 = avg.Load1, avg.Load5, avg.Load15
	} else {
		fail("load", err)
	}
	if up, err := host.UptimeWithContext(ctx); err == nil {
		s.UptimeSeconds = up
	} else {
		fail("uptime", err)
	}
	return s
}

// busyPercent is the share of non-idle CPU time between two samples.
func busyPercent(t1, t2 cpu.TimesStat) float64 {
	all1, busy1 := allBusy(t1)
	all2, busy2 := allBusy(t2)
	if busy2 <= busy1 {
		return 0
	}
	if all2 <= all1 {
		return 100
	}
	return round(math.Min(100, (busy2-busy1)/(all2-all1)*100))
}

func allBusy(t cpu.TimesStat) (float64, float64) {
	all := t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	if runtime.GOOS != "linux" {
		all += t.Guest + t.GuestNice // Linux counts guest time in user time already
	}
	return all, all - t.Idle - t.Iowait
}

func round(v float64) float64 { return math.Round(v*100) / 100 }
