"""dosirak.dashboard."""
