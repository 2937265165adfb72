package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/edgesync/edgesync/fleet"
)

// The handlers of group config rollouts (fleet/rollouts.go): starting one
// with PUT /groups/{group}/config, reading them, and pausing, resuming,
// cancelling and rolling them back. The service decides who may (the
// group among the caller's groups; operators to change, viewers to read).

func (a *api) putGroupConfig(w http.ResponseWriter, r *http.Request) {
	var spec fleet.RolloutSpec
	if !readJSON(w, r, &spec) {
		return
	}
	v, err := a.svc.StartRollout(r.Context(), principal(r), r.PathValue("group"), spec)
	if err != nil {
		a.failRollout(w, r, err)
		return
	}
	w.Header().Set("Location", "/groups/"+escapeSegment(v.Group)+"/rollouts/"+v.ID)
	writeJSON(w, http.StatusAccepted, v)
}

func (a *api) listRollouts(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "limit", "cursor")
	if !ok {
		return
	}
	limit, ok := intParam(w, q, "limit", 20, 1, 100)
	if !ok {
		return
	}
	list, next, err := a.svc.Rollouts(r.Context(), principal(r), r.PathValue("group"), q.Get("cursor"), limit)
	if err != nil {
		a.failRollout(w, r, err)
		return
	}
	if list == nil {
		list = []fleet.RolloutView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rollouts": list, "nextCursor": next})
}

func (a *api) getRollout(w http.ResponseWriter, r *http.Request) {
	v, err := a.svc.RolloutDetail(r.Context(), principal(r), r.PathValue("group"), r.PathValue("rollout"))
	if err != nil {
		a.failRollout(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *api) getRolloutWave(w http.ResponseWriter, r *http.Request) {
	wave, err := strconv.Atoi(r.PathValue("wave"))
	if err != nil || wave < 0 || wave > 9999 {
		writeError(w, http.StatusBadRequest, "invalid", "wave: want a wave index from 0")
		return
	}
	v, err := a.svc.RolloutWaveDetail(r.Context(), principal(r), r.PathValue("group"), r.PathValue("rollout"), wave)
	if err != nil {
		a.failRollout(w, r, err)
		return
	}
	if v.Targets == nil {
		v.Targets = []fleet.RolloutTarget{}
	}
	writeJSON(w, http.StatusOK, v)
}

// controlRollout returns the handler of POST …/rollouts/{rollout}/<action>.
func (a *api) controlRollout(action func(*fleet.Service, context.Context, fleet.Principal, string, string) (fleet.RolloutView, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := action(a.svc, r.Context(), principal(r), r.PathValue("group"), r.PathValue("rollout"))
		if err != nil {
			a.failRollout(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// failRollout answers a conflict with the service's reason (the rollout's
// state does not allow the action); other errors as fail does.
func (a *api) failRollout(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, fleet.ErrConflict) && !errors.Is(err, fleet.ErrThrottled) {
		writeError(w, http.StatusConflict, "conflict", strings.TrimSuffix(err.Error(), ": "+fleet.ErrConflict.Error()))
		return
	}
	a.fail(w, r, err)
}

// escapeSegment escapes a group name for a path segment.
func escapeSegment(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "%", "%25"), "/", "%2F")
}
