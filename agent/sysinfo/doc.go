// Package sysinfo samples the host metrics a terminal reports in its
// status (CPU, memory, disk, load, uptime, hostname) using gopsutil.
package sysinfo
