"""Flask + taskq: enqueue in a view, look the task up later (docs/integrations.md)."""
