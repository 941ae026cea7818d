"""dosirak.metadata."""
