"""Store backends for the `quartz_cli.ports.Store` port: a local folder and S3 (the
composition root, `quartz_cli.app.runtime.open_store`, chooses one), and the trading agent's
SQLite order ledger."""
