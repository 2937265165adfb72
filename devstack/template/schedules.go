package template

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Schedule is a SAM Schedule event: EventBridge invokes Function every Every.
type Schedule struct {
	Function string
	// Event is the event's name in the function's Events.
	Event string
	// Expression is the schedule as written, e.g. "rate(1 minute)".
	Expression string
	Every      time.Duration
}

// Schedules returns the Schedule events of the template's functions,
// sorted by function and event. Only rate expressions are read (a cron
// expression is an error: the local stack cannot run it yet).
func (t *Template) Schedules() ([]Schedule, error) {
	var out []Schedule
	for _, id := range t.ResourcesOfType(TypeServerlessFunction) {
		events, _ := t.Resources[id].Properties["Events"].(map[string]any)
		for name, ev := range events {
			em, ok := ev.(map[string]any)
			if !ok || em["Type"] != "Schedule" {
				continue
			}
			props, _ := em["Properties"].(map[string]any)
			expr, ok := props["Schedule"].(string)
			if !ok {
				return nil, fmt.Errorf("function %s event %s: Schedule is not a literal string", id, name)
			}
			every, err := ParseRate(expr)
			if err != nil {
				return nil, fmt.Errorf("function %s event %s: %w", id, name, err)
			}
			out = append(out, Schedule{Function: id, Event: name, Expression: expr, Every: every})
		}
	}
	slices.SortFunc(out, func(a, b Schedule) int {
		if c := strings.Compare(a.Function, b.Function); c != 0 {
			return c
		}
		return strings.Compare(a.Event, b.Event)
	})
	return out, nil
}

// ParseRate reads an EventBridge rate expression, "rate(Value Unit)" with a
// positive whole Value and Unit minute(s), hour(s) or day(s) (singular for
// 1, as EventBridge requires).
func ParseRate(expr string) (time.Duration, error) {
	inner, ok := strings.CutPrefix(strings.TrimSpace(expr), "rate(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return 0, fmt.Errorf("schedule %q: want rate(Value Unit) (cron expressions are not run locally)", expr)
	}
	fields := strings.Fields(strings.TrimSuffix(inner, ")"))
	if len(fields) != 2 {
		return 0, fmt.Errorf("schedule %q: want rate(Value Unit)", expr)
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("schedule %q: the value must be a positive whole number", expr)
	}
	units := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	unit := fields[1]
	if n != 1 {
		unit = strings.TrimSuffix(unit, "s")
		if unit == fields[1] {
			return 0, fmt.Errorf("schedule %q: with a value above 1 the unit is plural (minutes, hours, days)", expr)
		}
	}
	d, ok := units[unit]
	if !ok {
		return 0, fmt.Errorf("schedule %q: unit %q: want minute(s), hour(s) or day(s)", expr, fields[1])
	}
	return time.Duration(n) * d, nil
}
