"""Notification channels (adapters): Telegram Bot API, Slack incoming webhooks, a JSON
webhook."""
