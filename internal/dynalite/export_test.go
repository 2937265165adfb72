package dynalite

// PID returns the dynalite process id, for tests.
func PID(s *Server) int { return s.PID() }
