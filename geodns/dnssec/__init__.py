"""DNSSEC: BIND-format keys, their timing, deterministic week-aligned RRSIGs and DS records."""
