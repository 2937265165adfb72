// Package poll waits, in tests, for something that happens asynchronously
// (a line stored, a process gone, a file written) by checking a condition
// until it holds:
//
//	poll.Until(t, "config synced after hello", func() bool {
//		return getJSON(t, url, &cfg) == 200 && cfg.Fresh
//	})
//
// The first checks come quickly (the interval starts at a millisecond and
// doubles up to MaxInterval), so a test waits little for what is nearly
// done and does not hammer what takes long. Timeout only keeps a broken
// build from hanging: it asserts nothing about speed, and no test should
// choose its own.
package poll
