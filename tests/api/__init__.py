"""API tests: the REST contract (sections 1-4 and "Service") on both databases."""
