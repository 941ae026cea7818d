"""dosirak.serving."""
