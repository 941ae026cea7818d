"""dosirak.deployers."""
