"""Notifications: the outbox, the dispatcher, and the channels behind one interface."""
