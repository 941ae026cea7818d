"""Integration tests of dosirak.artifacts."""
