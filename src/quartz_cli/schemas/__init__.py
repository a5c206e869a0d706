"""JSON schemas of Quartz's documented outputs (generated from the models; a test keeps them in
sync)."""
