"""Clients' recurring services: provisioning, the lifecycle actions, lists, expiry."""
