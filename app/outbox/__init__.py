"""The outbox core shared by mail and outgoing webhooks: claiming due rows safely across processes."""
