"""dosirak.bundles."""
