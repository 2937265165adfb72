package dynamo

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgesync/edgesync/fleet"
)

// groupPK is the partition of group g's membership items: one item per
// terminal of the group, sort key the terminal id, no other attributes.
func groupPK(g string) string { return "G#" + g }

// putMemberships writes the membership items of t's groups. They are
// written before the terminal record (CreateTerminal), each an idempotent
// PutItem, so a terminal never exists without them; an item left by a
// CreateTerminal that then failed or found the id taken names a terminal
// without that group, and GroupTerminals skips it.
func (s *Store) putMemberships(ctx context.Context, t fleet.Terminal) error {
	var done []string
	for _, g := range t.Groups {
		if g == "" || slices.Contains(done, g) {
			continue // no one can be in group ""
		}
		if err := checkID("group", g); err != nil {
			return err
		}
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: key(groupPK(g), t.ID)}); err != nil {
			return fmt.Errorf("group %q: %w", g, storeError(err))
		}
		done = append(done, g)
	}
	return nil
}

// GroupTerminals lists the terminals of group in id order after the id
// after, at most limit: a strongly consistent Query of the group's
// membership partition (sort key > after), then the records it names with
// BatchGetItem. It reads about limit membership items and limit records,
// more only where memberships name terminals not (or no longer) in the
// group, which it skips.
func (s *Store) GroupTerminals(ctx context.Context, group, after string, limit int) ([]fleet.Terminal, error) {
	return s.listGroup(ctx, "terminals", group, after, limit, s.readTerminals)
}

// listGroup pages group's membership from after and reads the terminals
// it names with read, at most limit, skipping those no longer in the
// group; what names the listing in errors.
func (s *Store) listGroup(ctx context.Context, what, group, after string, limit int, read func(context.Context, []string) ([]fleet.Terminal, error)) ([]fleet.Terminal, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list %s of group %q: %w: limit %d, want at least 1", what, group, fleet.ErrInvalid, limit)
	}
	if group == "" {
		return nil, nil
	}
	if err := checkID("group", group); err != nil {
		return nil, fmt.Errorf("list %s of a group: %w", what, err)
	}
	if len(after) > maxKeyPart {
		return nil, fmt.Errorf("list %s of group %q: %w: cursor too long", what, group, fleet.ErrInvalid)
	}
	limit = min(limit, maxTerminalsPage)
	var out []fleet.Terminal
	for len(out) < limit {
		ids, more, err := s.groupMemberIDs(ctx, group, after, limit-len(out))
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			break
		}
		terms, err := read(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("list %s of group %q: %w", what, group, err)
		}
		for _, t := range terms {
			if slices.Contains(t.Groups, group) {
				out = append(out, t)
			}
		}
		after = ids[len(ids)-1]
		if !more {
			break
		}
	}
	return out, nil
}

// groupMemberIDs returns up to n ids of group's membership items after the
// id after, in order, and whether more may follow.
func (s *Store) groupMemberIDs(ctx context.Context, group, after string, n int) ([]string, bool, error) {
	e := newExpr()
	cond := e.name(attrPK) + " = " + e.value(attrS(groupPK(group)))
	if after != "" {
		cond += " AND " + e.name(attrSK) + " > " + e.value(attrS(after))
	}
	in := &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
		ConsistentRead:            aws.Bool(true),
	}
	var ids []string
	for len(ids) < n {
		in.Limit = aws.Int32(int32(n - len(ids)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("list members of group %q: %w", group, storeError(err))
		}
		for _, it := range out.Items {
			r := itemReader{item: it}
			ids = append(ids, r.str(attrSK))
			if r.err != nil {
				return nil, false, fmt.Errorf("list members of group %q: %w", group, r.err)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ids, false, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return ids, true, nil
}

// IndexGroups writes the membership items of every terminal (see
// GroupTerminals) and returns how many terminals it read. A table written
// before memberships existed needs it once; it is idempotent, so running
// it again, or while terminals are created, is harmless.
func (s *Store) IndexGroups(ctx context.Context) (int, error) {
	n, cursor := 0, ""
	for {
		ts, next, err := s.Terminals(ctx, cursor, maxTerminalsPage)
		if err != nil {
			return n, fmt.Errorf("index groups: %w", err)
		}
		for _, t := range ts {
			if err := s.putMemberships(ctx, t); err != nil {
				return n, fmt.Errorf("index groups of %s: %w", t.ID, err)
			}
			n++
		}
		if next == "" {
			return n, nil
		}
		cursor = next
	}
}
