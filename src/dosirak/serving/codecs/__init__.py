"""dosirak.serving.codecs."""
