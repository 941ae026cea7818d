"""dosirak.steps."""
