"""Pure domain: typed models and rules, no I/O."""
