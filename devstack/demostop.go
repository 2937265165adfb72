package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// StopDemoTerminal stops demo terminal id's agent as a terminal switched
// off would stop: it closes its connection (the stack marks it offline)
// and stays down until the stack restarts. Stopping it again is no error.
// The alert tests and demos use it (POST /demo/{id}/stop on the stack's
// WebSocket address does the same).
func (s *Stack) StopDemoTerminal(ctx context.Context, id string) error {
	if s.demo == nil {
		return errors.New("the stack runs no demo terminals")
	}
	for i, t := range s.demo.terminals {
		if t.ID == id {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := s.demo.agents[i].Shutdown(ctx); err != nil {
				return fmt.Errorf("stop demo terminal %s: %w", id, err)
			}
			s.log.Info("demo terminal stopped", "terminal", id)
			return nil
		}
	}
	return fmt.Errorf("no demo terminal %q", id)
}

func (s *Stack) serveStopDemo(w http.ResponseWriter, r *http.Request) {
	if err := s.StopDemoTerminal(r.Context(), r.PathValue("id")); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
