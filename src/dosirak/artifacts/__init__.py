"""dosirak.artifacts."""
