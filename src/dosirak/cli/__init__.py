"""dosirak.cli."""
