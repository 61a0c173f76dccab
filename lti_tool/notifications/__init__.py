"""Telling people things: emails rendered from templates and sent through the outbox."""
