"""dlqctl: an operator CLI for AWS dead-letter queues."""

__version__ = "0.1.0"
