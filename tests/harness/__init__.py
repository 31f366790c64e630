"""Real servers for the test session: started on free loopback ports, stopped by PID."""
