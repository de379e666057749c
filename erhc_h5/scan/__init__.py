"""scan domain."""
