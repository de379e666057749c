"""What exists only in sandbox mode: the sandbox province's own pages."""
