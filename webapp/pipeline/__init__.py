"""The event pipeline: outbox, publishing to RQ, delivery, relay and recovery, its health."""
