"""The composition root: the only package that builds adapters and agents from the settings.
The CLI and the servers ask it for what they need."""
