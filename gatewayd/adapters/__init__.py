"""Adapters to the outside world that are neither the store nor the HTTP API (Daraja, …)."""
