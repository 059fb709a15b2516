"""The sign-up app of the testing example."""
