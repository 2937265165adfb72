package spool

import "sort"

// seqRange is the closed range of sequence numbers first..last.
type seqRange struct{ first, last uint64 }

// rangeSet is a set of sequence numbers kept as sorted, disjoint,
// non-adjacent ranges. Acknowledgements mostly arrive in order, so it
// stays a handful of ranges long.
type rangeSet []seqRange

// add inserts first..last, merging touching ranges.
func (s *rangeSet) add(first, last uint64) {
	rs := *s
	// i: first range that ends at or after first-1 (could merge).
	i := sort.Search(len(rs), func(i int) bool { return rs[i].last+1 >= first })
	j := i
	for j < len(rs) && rs[j].first <= last+1 {
		first = min(first, rs[j].first)
		last = max(last, rs[j].last)
		j++
	}
	out := append(rs[:i:i], seqRange{first, last})
	*s = append(out, rs[j:]...)
}

// contains reports whether seq is in the set.
func (s rangeSet) contains(seq uint64) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i].last >= seq })
	return i < len(s) && s[i].first <= seq
}

// count returns how many of first..last are in the set.
func (s rangeSet) count(first, last uint64) uint64 {
	var n uint64
	i := sort.Search(len(s), func(i int) bool { return s[i].last >= first })
	for ; i < len(s) && s[i].first <= last; i++ {
		n += min(last, s[i].last) - max(first, s[i].first) + 1
	}
	return n
}

// firstOutside returns the lowest of first..last not in the set, or 0.
func (s rangeSet) firstOutside(first, last uint64) uint64 {
	seq := first
	i := sort.Search(len(s), func(i int) bool { return s[i].last >= first })
	for ; i < len(s) && s[i].first <= seq; i++ {
		seq = s[i].last + 1
	}
	if seq > last {
		return 0
	}
	return seq
}
