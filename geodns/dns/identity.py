"""Who answered: NSID (RFC 5001) and the CHAOS TXT names operators ask with dig.

A fleet of name servers answers for one zone; when they disagree, an operator needs to
know which one spoke. `dig +nsid` and `dig CH TXT id.server` are the usual ways to ask.
"""

from __future__ import annotations

import struct

from geodns import names
from geodns import wire as w
from geodns.dns.answer import ANS, Reply

CLASS_CH = 3
_ID_NAMES = {names.name_to_wire(n) for n in ("id.server.", "hostname.bind.")}
_VERSION_NAMES = {names.name_to_wire(n) for n in ("version.server.", "version.bind.")}


class Identity:
    """This instance's name and version, and whether to tell them (dns.nsid, dns.chaos,
    dns.hide_version)."""

    __slots__ = ("chaos", "hide_version", "instance", "nsid", "version")

    def __init__(
        self, instance: str, version: str, nsid: bool, chaos: bool, hide_version: bool
    ) -> None:
        self.instance = instance.encode()[:512]
        self.version = f"geodns {version}".encode()
        self.nsid = nsid
        self.chaos = chaos
        self.hide_version = hide_version

    def nsid_option(self) -> bytes:
        """Our NSID option (code 3): the instance name, for a query that asked (RFC 5001)."""
        return struct.pack("!HH", w.OPT_NSID, len(self.instance)) + self.instance

    def chaos_reply(self, qname: bytes, qtype: int) -> Reply:
        """A CH class question: TXT for id.server./hostname.bind. (the instance) and
        version.server./version.bind. (unless hidden); REFUSED for anything else."""
        text = None
        if self.chaos and qtype in (w.T_TXT, w.T_ANY):
            if qname in _ID_NAMES:
                text = self.instance
            elif qname in _VERSION_NAMES and not self.hide_version:
                text = self.version
        if text is None:
            return Reply(rcode=w.RCODE_REFUSED, aa=False)
        rdata = w.rdata_txt(text.decode(errors="replace"))
        record = w.PTR_QNAME + struct.pack("!HHIH", w.T_TXT, CLASS_CH, 0, len(rdata)) + rdata
        reply = Reply(aa=True)
        reply.add(ANS, record, 1)
        return reply
