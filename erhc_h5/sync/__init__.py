"""sync domain."""
