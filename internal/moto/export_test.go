package moto

// PID returns the moto_server process id, for tests.
func PID(s *Server) int { return s.PID() }
