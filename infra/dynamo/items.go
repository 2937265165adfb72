package dynamo

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute values, written by hand so that the stored layout is exactly
// what the package documentation says.

func attrS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func attrN(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func attrU(v uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(v, 10)}
}

func attrB(v []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }

func attrBool(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }

// attrMs is a time as epoch milliseconds.
func attrMs(t time.Time) types.AttributeValue { return attrN(t.UnixMilli()) }

// item is a DynamoDB item under construction.
type item map[string]types.AttributeValue

// str sets a string attribute unless v is empty (DynamoDB keys aside,
// empty strings are allowed, but absent reads the same and costs less).
func (it item) str(name, v string) {
	if v != "" {
		it[name] = attrS(v)
	}
}

// time sets an epoch-milliseconds attribute unless t is zero.
func (it item) time(name string, t time.Time) {
	if !t.IsZero() {
		it[name] = attrMs(t)
	}
}

// json sets a JSON document as a string attribute unless it is empty.
func (it item) json(name string, raw json.RawMessage) {
	if len(raw) > 0 {
		it[name] = attrS(string(raw))
	}
}

// expiry sets expiresAt (epoch seconds, rounded up so TTL never deletes an
// item before it expires) and expiresAtMs (what reads compare) unless t is
// zero, which means the item never expires.
func (it item) expiry(t time.Time) {
	if t.IsZero() {
		return
	}
	it[attrExpiresAt] = attrN(ttlSeconds(t))
	it[attrExpiresAtMs] = attrMs(t)
}

// Expiry attributes carried by every expiring item.
const (
	attrExpiresAt   = "expiresAt"
	attrExpiresAtMs = "expiresAtMs"
)

// ttlSeconds is t in epoch seconds, rounded up.
func ttlSeconds(t time.Time) int64 {
	s := t.Unix()
	if t.After(time.Unix(s, 0)) {
		s++
	}
	return s
}

// itemReader decodes attributes of a stored item, remembering the first
// malformed one; absent attributes read as zero values.
type itemReader struct {
	item map[string]types.AttributeValue
	err  error
}

func (r *itemReader) fail(name string, want string, v types.AttributeValue) {
	if r.err == nil {
		r.err = fmt.Errorf("attribute %q: want %s, have %T", name, want, v)
	}
}

func (r *itemReader) str(name string) string {
	v, ok := r.item[name]
	if !ok {
		return ""
	}
	s, ok := v.(*types.AttributeValueMemberS)
	if !ok {
		r.fail(name, "S", v)
		return ""
	}
	return s.Value
}

func (r *itemReader) number(name string) (string, bool) {
	v, ok := r.item[name]
	if !ok {
		return "", false
	}
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		r.fail(name, "N", v)
		return "", false
	}
	return n.Value, true
}

func (r *itemReader) int(name string) int64 {
	s, ok := r.number(name)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("attribute %q: %w", name, err)
	}
	return n
}

func (r *itemReader) uint(name string) uint64 {
	s, ok := r.number(name)
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("attribute %q: %w", name, err)
	}
	return n
}

// time reads epoch milliseconds as a UTC time; absent is the zero time.
func (r *itemReader) time(name string) time.Time {
	if _, ok := r.item[name]; !ok {
		return time.Time{}
	}
	return time.UnixMilli(r.int(name)).UTC()
}

func (r *itemReader) bytes(name string) []byte {
	v, ok := r.item[name]
	if !ok {
		return nil
	}
	b, ok := v.(*types.AttributeValueMemberB)
	if !ok {
		r.fail(name, "B", v)
		return nil
	}
	return b.Value
}

func (r *itemReader) boolean(name string) bool {
	v, ok := r.item[name]
	if !ok {
		return false
	}
	b, ok := v.(*types.AttributeValueMemberBOOL)
	if !ok {
		r.fail(name, "BOOL", v)
		return false
	}
	return b.Value
}

func (r *itemReader) json(name string) json.RawMessage {
	s := r.str(name)
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func (r *itemReader) list(name string) []types.AttributeValue {
	v, ok := r.item[name]
	if !ok {
		return nil
	}
	l, ok := v.(*types.AttributeValueMemberL)
	if !ok {
		r.fail(name, "L", v)
		return nil
	}
	return l.Value
}

// expired reports whether the item's expiry is at or before now. Items
// without an expiry never expire.
func (r *itemReader) expired(now time.Time) bool {
	exp := r.expiresAt()
	return !exp.IsZero() && !now.Before(exp)
}

// expiresAt is the exact expiry, from expiresAtMs, falling back to the TTL
// seconds for items written without it.
func (r *itemReader) expiresAt() time.Time {
	if _, ok := r.item[attrExpiresAtMs]; ok {
		return r.time(attrExpiresAtMs)
	}
	if _, ok := r.item[attrExpiresAt]; ok {
		return time.Unix(r.int(attrExpiresAt), 0).UTC()
	}
	return time.Time{}
}

// expr collects the attribute names and values of one request's
// expressions, so that no attribute name ever collides with DynamoDB's long
// list of reserved words.
type expr struct {
	attrNames  map[string]string
	attrValues map[string]types.AttributeValue
	placeholds map[string]string
}

func newExpr() *expr {
	return &expr{attrNames: map[string]string{}, attrValues: map[string]types.AttributeValue{}, placeholds: map[string]string{}}
}

// name returns the placeholder of attribute a.
func (e *expr) name(a string) string {
	if p, ok := e.placeholds[a]; ok {
		return p
	}
	// Plain names contain no underscore, so "#x_<n>" never collides.
	p := "#x_" + strconv.Itoa(len(e.placeholds))
	if isPlainName(a) {
		p = "#" + a
	}
	e.placeholds[a] = p
	e.attrNames[p] = a
	return p
}

// names returns the placeholders of as, comma-separated (a projection).
func (e *expr) names(as ...string) string {
	ps := make([]string, len(as))
	for i, a := range as {
		ps[i] = e.name(a)
	}
	return strings.Join(ps, ", ")
}

// value returns a fresh placeholder bound to v.
func (e *expr) value(v types.AttributeValue) string {
	p := ":v" + strconv.Itoa(len(e.attrValues))
	e.attrValues[p] = v
	return p
}

// nameMap returns the placeholders' names, or nil when there are none
// (DynamoDB rejects an empty map).
func (e *expr) nameMap() map[string]string {
	if len(e.attrNames) == 0 {
		return nil
	}
	return e.attrNames
}

// values returns the bound values, or nil when there are none (DynamoDB
// rejects an empty map).
func (e *expr) values() map[string]types.AttributeValue {
	if len(e.attrValues) == 0 {
		return nil
	}
	return e.attrValues
}

func isPlainName(a string) bool {
	if a == "" {
		return false
	}
	for _, c := range a {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// update builds an UpdateExpression of SET and REMOVE clauses.
type update struct {
	e      *expr
	set    []string
	remove []string
}

func newUpdate(e *expr) *update { return &update{e: e} }

// setValue assigns v to attr.
func (u *update) setValue(attr string, v types.AttributeValue) *update {
	u.set = append(u.set, u.e.name(attr)+" = "+u.e.value(v))
	return u
}

// setString assigns a string, or removes attr when v is empty.
func (u *update) setString(attr, v string) *update {
	if v == "" {
		return u.removeAttr(attr)
	}
	return u.setValue(attr, attrS(v))
}

// removeAttr removes attr.
func (u *update) removeAttr(attr string) *update {
	u.remove = append(u.remove, u.e.name(attr))
	return u
}

func (u *update) String() string {
	var b strings.Builder
	if len(u.set) > 0 {
		b.WriteString("SET " + strings.Join(u.set, ", "))
	}
	if len(u.remove) > 0 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("REMOVE " + strings.Join(u.remove, ", "))
	}
	return b.String()
}
