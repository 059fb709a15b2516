"""Runnable examples, one per page of docs/; ``tests/docs/test_examples.py`` runs each of them."""
