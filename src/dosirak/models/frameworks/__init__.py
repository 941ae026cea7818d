"""dosirak.models.frameworks."""
