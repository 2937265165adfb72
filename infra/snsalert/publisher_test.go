package snsalert_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/embedded"
	"github.com/edgesync/edgesync/infra/snsalert"
)

const topic = "arn:aws:sns:eu-west-1:123456789012:edgesync-alerts"

// fakeSNS answers the SNS Publish API (the query protocol: a form-encoded
// POST, an XML answer) and keeps what was published. While failWith is
// set it answers that error code instead.
type fakeSNS struct {
	mu        sync.Mutex
	published []published
	failWith  string
}

type published struct {
	topic, subject string
	message        snsalert.Message
	attrs          map[string]string
}

func (f *fakeSNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") ||
		!strings.Contains(r.Header.Get("Authorization"), "/sns/aws4_request") {
		http.Error(w, "unsigned or not SNS", http.StatusForbidden)
		return
	}
	if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "Publish" || r.Form.Get("Version") != "2010-03-31" {
		http.Error(w, "not a Publish", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if f.failWith != "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>no</Message></Error><RequestId>r</RequestId></ErrorResponse>`, f.failWith)
		return
	}
	p := published{topic: r.Form.Get("TopicArn"), subject: r.Form.Get("Subject"), attrs: map[string]string{}}
	if err := json.Unmarshal([]byte(r.Form.Get("Message")), &p.message); err != nil {
		http.Error(w, "message is not JSON", http.StatusBadRequest)
		return
	}
	for i := 1; r.Form.Get(fmt.Sprintf("MessageAttributes.entry.%d.Name", i)) != ""; i++ {
		prefix := fmt.Sprintf("MessageAttributes.entry.%d.", i)
		if r.Form.Get(prefix+"Value.DataType") != "String" {
			http.Error(w, "attribute type", http.StatusBadRequest)
			return
		}
		p.attrs[r.Form.Get(prefix+"Name")] = r.Form.Get(prefix + "Value.StringValue")
	}
	f.published = append(f.published, p)
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-%d</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>`, len(f.published))
}

func (f *fakeSNS) take() []published {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.published
	f.published = nil
	return out
}

// newPublisher returns a Publisher whose SDK client talks to fake.
func newPublisher(t *testing.T, fake *fakeSNS) *snsalert.Publisher {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := sns.New(sns.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	return snsalert.New(client, topic)
}

func TestPublish(t *testing.T) {
	t.Parallel()
	fake := &fakeSNS{}
	pub := newPublisher(t, fake)
	a := fleet.Alert{
		AlertKey: fleet.AlertKey{Group: "line-1", RuleID: "r1", TerminalID: "press-7"}, Kind: fleet.AlertStatus, RuleName: "Disque plein",
		State: fleet.AlertOpen, OpenedAt: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), Message: "disk_percent 93 > 90", Value: 93,
	}
	if err := pub.Publish(context.Background(), a); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := fake.take()
	if len(got) != 1 {
		t.Fatalf("published %d messages, want 1", len(got))
	}
	p := got[0]
	if p.topic != topic || p.message.Type != "edgesync.alert" || p.message.Alert.AlertKey != a.AlertKey || p.message.Value != 93 ||
		p.message.State != fleet.AlertOpen || !p.message.OpenedAt.Equal(a.OpenedAt) {
		t.Errorf("published %+v, want the alert as JSON to %s", p, topic)
	}
	if want := "edgesync alert open: Disque plein on press-7 (line-1)"; p.subject != want {
		t.Errorf("subject %q, want %q", p.subject, want)
	}
	want := map[string]string{"group": "line-1", "state": "open", "kind": "status", "terminal": "press-7"}
	if fmt.Sprint(p.attrs) != fmt.Sprint(want) {
		t.Errorf("message attributes %v, want %v", p.attrs, want)
	}

	fake.failWith = "Throttling"
	if err := pub.Publish(context.Background(), a); !errors.Is(err, fleet.ErrThrottled) {
		t.Errorf("Publish when SNS throttles: %v, want ErrThrottled", err)
	}
	fake.failWith = "AuthorizationError"
	if err := pub.Publish(context.Background(), a); err == nil || errors.Is(err, fleet.ErrThrottled) || !strings.Contains(err.Error(), topic) {
		t.Errorf("Publish refused: %v, want an error naming the topic", err)
	}
}

func TestSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a    fleet.Alert
		want string
	}{
		{fleet.Alert{AlertKey: fleet.AlertKey{Group: "g", TerminalID: "t"}, Kind: fleet.AlertOffline, State: fleet.AlertCleared},
			"edgesync alert cleared: offline on t (g)"},
		{fleet.Alert{AlertKey: fleet.AlertKey{Group: "北门", TerminalID: "t"}, Kind: fleet.AlertOffline, RuleName: "a\nb", State: fleet.AlertOpen},
			"edgesync alert open: a?b on t (??)"},
		{fleet.Alert{AlertKey: fleet.AlertKey{Group: "g", TerminalID: strings.Repeat("x", 128)}, Kind: fleet.AlertOffline, State: fleet.AlertOpen},
			"edgesync alert open: offline on " + strings.Repeat("x", 64) + "..."},
	}
	for _, tt := range tests {
		if got := snsalert.Subject(tt.a); got != tt.want || len(got) > 99 {
			t.Errorf("Subject(%+v) = %q, want %q", tt.a, got, tt.want)
		}
	}
}

// TestSchedulerDeliversThroughSNS: the service's periodic work, with the
// SNS publisher (as the scheduler function runs it), delivers an alert's
// opening and clearing to the topic once each; a failed delivery is
// retried at the next tick.
func TestSchedulerDeliversThroughSNS(t *testing.T) {
	t.Parallel()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "edgesync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fake := &fakeSNS{}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	svc := fleet.NewService(st, noPush{}, fleet.DefaultConfig(), fleet.WithClock(clock), fleet.WithAlertPublisher(newPublisher(t, fake)))
	ctx := context.Background()
	if _, err := svc.CreateTerminal(ctx, fleet.System("test"), "press-7", "", []string{"line-1"}); err != nil {
		t.Fatal(err)
	}
	rule, err := svc.CreateAlertRule(ctx, fleet.System("test"), "line-1", fleet.AlertRule{Kind: fleet.AlertOffline, Minutes: 10})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance  time.Duration
		failWith string
		want     []string
	}{
		{0, "", nil},
		{11 * time.Minute, "", []string{"open"}},
		{time.Minute, "", nil},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		fake.failWith = s.failWith
		if err := svc.Tick(ctx, now); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range fake.take() {
			if p.message.RuleID != rule.ID || p.attrs["group"] != "line-1" {
				t.Errorf("step %d: published %+v", i, p)
			}
			got = append(got, string(p.message.State))
		}
		if fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Errorf("step %d: published %v, want %v", i, got, s.want)
		}
	}
	// Deleting the rule clears the alert; SNS refuses once, the next tick delivers.
	fake.failWith = "Throttling"
	if err := svc.DeleteAlertRule(ctx, fleet.System("test"), "line-1", rule.ID); err != nil {
		t.Fatal(err)
	}
	fake.failWith = ""
	if err := svc.Tick(ctx, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := fake.take(); len(got) != 1 || got[0].message.State != fleet.AlertCleared {
		t.Errorf("after the rule was deleted and delivery retried: %+v, want one cleared", got)
	}
}

type noPush struct{}

func (noPush) Push(context.Context, string, []byte) error { return fleet.ErrOffline }
