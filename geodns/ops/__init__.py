"""Operating surfaces: HTTP API, metrics, explain reports, logs."""
