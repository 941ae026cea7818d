"""dosirak.stack."""
