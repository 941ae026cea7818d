"""dosirak.orchestrators."""
