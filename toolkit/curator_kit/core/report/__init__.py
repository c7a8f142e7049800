"""The HTML report of a run's output."""
