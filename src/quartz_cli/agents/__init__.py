"""Use cases, one module per agent. They depend on small protocols, not on adapters."""
