"""filing domain."""
