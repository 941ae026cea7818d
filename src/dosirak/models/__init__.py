"""dosirak.models."""
