"""Notifications: emails rendered from templates and sent through the durable outbox."""
