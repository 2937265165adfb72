package devstack

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// alertSink is the local stack's stand-in for the alert SNS topic: the
// scheduler function (run in process) delivers each alert state change to
// it; it logs it and keeps the latest maxDelivered for GET /alerts.
type alertSink struct {
	log       *slog.Logger
	mu        sync.Mutex
	delivered []DeliveredAlert
}

// maxDelivered bounds the deliveries the sink keeps.
const maxDelivered = 200

// DeliveredAlert is an alert state change as the sink received it.
type DeliveredAlert struct {
	At time.Time `json:"at"`
	fleet.Alert
}

// Publish implements fleet.AlertPublisher.
func (k *alertSink) Publish(_ context.Context, a fleet.Alert) error {
	k.log.Info("alert delivered (local sink; SNS in AWS)", "group", a.Group, "rule", a.RuleID, "terminal", a.TerminalID,
		"kind", a.Kind, "state", a.State, "message", a.Message)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.delivered = append(k.delivered, DeliveredAlert{At: time.Now().UTC(), Alert: a})
	if len(k.delivered) > maxDelivered {
		k.delivered = k.delivered[len(k.delivered)-maxDelivered:]
	}
	return nil
}

// AlertsSnapshot is what the stack's GET /alerts serves.
type AlertsSnapshot struct {
	// Alerts are the stored alerts of every group (as an admin sees them).
	Alerts []fleet.Alert `json:"alerts"`
	// Delivered are the latest state changes the scheduler delivered,
	// oldest first (in process only: under --lambda rie the scheduler's
	// binary has no topic, and this stays empty).
	Delivered []DeliveredAlert `json:"delivered"`
}

// Alerts returns the stored alerts and the latest deliveries.
func (s *Stack) Alerts(ctx context.Context) (AlertsSnapshot, error) {
	snap := AlertsSnapshot{Alerts: []fleet.Alert{}, Delivered: []DeliveredAlert{}}
	cursor := ""
	for {
		page, next, err := s.admin.Alerts(ctx, fleet.System("system:local-stack"), fleet.AlertQuery{Cursor: cursor, Limit: fleet.MaxAlertPage})
		if err != nil {
			return AlertsSnapshot{}, err
		}
		snap.Alerts = append(snap.Alerts, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	s.alerts.mu.Lock()
	snap.Delivered = append(snap.Delivered, s.alerts.delivered...)
	s.alerts.mu.Unlock()
	return snap, nil
}

func (s *Stack) serveAlerts(w http.ResponseWriter, r *http.Request) {
	snap, err := s.Alerts(r.Context())
	if err != nil {
		s.log.Error("local alerts endpoint", "error", err)
		http.Error(w, `{"message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(snap)
}
