"""Health: the rise/fall board and the probes that feed it."""
