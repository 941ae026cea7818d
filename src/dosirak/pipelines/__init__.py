"""dosirak.pipelines."""
