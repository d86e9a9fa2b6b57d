"""Bundle -> registry: straight push with digests kept, or through a Docker engine; the receipt."""
