// Package lambdalog reproduces what AWS Lambda does to a function's output
// when the function has LogFormat JSON and an ApplicationLogLevel
// (template.yaml's LogLevel): it keeps or drops each line by its level, as
// documented in "Log-level filtering"
// (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html):
//
//   - a line is a log event; a JSON object's "level" field gives its level
//     (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, any case);
//   - a missing or invalid "level" is INFO, and so is a line whose
//     "timestamp" is missing or not RFC 3339, and a line that is not JSON;
//   - events below the configured level are dropped.
//
// The local stack and the tests use it so that what would vanish in AWS
// vanishes locally too (the EMF metric lines once did).
package lambdalog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"time"
)

var ranks = map[string]int{"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4, "FATAL": 5}

// Level returns the level Lambda assigns to one line of output.
func Level(line []byte) string {
	var ev struct {
		Level     *string `json:"level"`
		Timestamp *string `json:"timestamp"`
	}
	if json.Unmarshal(bytes.TrimSpace(line), &ev) != nil || ev.Level == nil {
		return "INFO"
	}
	lvl := strings.ToUpper(*ev.Level)
	if _, ok := ranks[lvl]; !ok {
		return "INFO"
	}
	if ev.Timestamp == nil {
		return "INFO"
	}
	if _, err := time.Parse(time.RFC3339Nano, *ev.Timestamp); err != nil {
		return "INFO"
	}
	return lvl
}

// Keeps reports whether Lambda, filtering at applicationLevel, keeps line.
// An unknown applicationLevel keeps everything.
func Keeps(line []byte, applicationLevel string) bool {
	min, ok := ranks[strings.ToUpper(applicationLevel)]
	if !ok {
		return true
	}
	return ranks[Level(line)] >= min
}

// Filter copies the lines of r that Lambda keeps at applicationLevel to w.
func Filter(w io.Writer, r io.Reader, applicationLevel string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if Keeps(sc.Bytes(), applicationLevel) {
			if _, err := w.Write(append(sc.Bytes(), '\n')); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}
