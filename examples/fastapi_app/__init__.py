"""FastAPI + taskq: enqueue in an endpoint, wait for the result (docs/integrations.md)."""
