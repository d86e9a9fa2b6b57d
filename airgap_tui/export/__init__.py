"""Registry -> bundle: plan, resolve, estimate, fetch and write."""
