"""Bridges to the tools people drive DNS with: RFC 2136, external-dns, octoDNS, Pulumi."""
