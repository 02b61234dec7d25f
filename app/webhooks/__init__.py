"""Webhooks: outgoing deliveries to other systems, and incoming calls from ticket sources."""
