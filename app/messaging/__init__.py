"""Telling people: composing messages and the mail outbox that delivers them."""
