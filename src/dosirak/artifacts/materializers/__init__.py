"""dosirak.artifacts.materializers."""
