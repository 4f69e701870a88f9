"""The fleet: several instances on one NATS JetStream bucket (votes, drains, serials)."""
