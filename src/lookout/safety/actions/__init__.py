"""Adapters that carry out automatic actions and notifications (each is an outbox sender)."""
