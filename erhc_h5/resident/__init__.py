"""resident domain."""
