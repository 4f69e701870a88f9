"""geodns: an authoritative DNS server that answers by client location and endpoint health."""

__version__ = "0.1.0"
