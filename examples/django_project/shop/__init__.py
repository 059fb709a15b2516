"""The shop app: orders, and the tasks that confirm them."""
