package spool

// Crash releases s's files without writing anything, as a process that
// dies does: lines held only in memory are lost.
func Crash(s *Spool) { s.closeFiles() }

// ReserveBytes is the size of the reserve file.
const ReserveBytes = reserveBytes

// SetVolatileSpan sets how far a volatile record of s reaches.
func SetVolatileSpan(s *Spool, n uint64) {
	s.mu.Lock()
	s.volatileSpan = n
	s.mu.Unlock()
}
