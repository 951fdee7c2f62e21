"""Failure handling: error classification, request retries and circuit breakers."""
