"""What response rate limiting counts a reply as: its kind and the account's name.

Keyed by the question alone, every random name under a wildcard or below a delegation is an
account of its own: a spoofed flood of `<random>.wild.example.` is never limited at all
(10,000 of 10,000 answered at 10/s). So, as BIND and Knot do, an answer synthesised from a
wildcard counts for the wildcard's owner (`*.wild.example.`: one account however the
label varies; an answer reached through a wildcard CNAME too, since the first step is the
wildcard), a referral for its delegation point, and an empty answer (NODATA) for its owner
whatever the type; NXDOMAIN and errors count for their zone, as before.
"""

from __future__ import annotations

from geodns import wire as w
from geodns.dns.answer import Answerer
from geodns.dns.rrl import ANSWER, ERROR, NXDOMAIN
from geodns.table import Table

_QD1 = b"\x00\x01"
# Prefixes no wire name starts with (a label length is at most 63): an account for a
# delegation or an empty answer never shares a name with a question's.
REFERRAL, EMPTY = b"\xffD", b"\xffE"
_DS = w.T_DS.to_bytes(2, "big")


def identity(table: Table, resp: bytes) -> tuple[int, bytes]:
    """(kind, account name) of a reply: answers by their owner (see above) and type,
    NXDOMAIN and errors by their zone (b"" outside every zone)."""
    end = w.question_end(resp) if resp[4:6] == _QD1 else -1
    question = resp[12:end].lower() if end > 0 else b""
    rcode = resp[3] & 0xF
    if rcode == w.RCODE_NOERROR:
        return ANSWER, answer_name(table, question, resp[6:8] == b"\x00\x00")
    zt = table.find_zone(question[:-4]) if question else None
    return NXDOMAIN if rcode == w.RCODE_NXDOMAIN else ERROR, zt.origin if zt else b""


def answer_name(table: Table, question: bytes, empty: bool) -> bytes:
    """An answer's account: the delegation point of a referral; else the owner the answer
    came from (a wildcard's for a synthesised one) with the type, or alone when empty."""
    if not question:
        return b""
    qname, kind = question[:-4], question[-4:]
    zt = table.find_zone(qname)
    if zt is None:  # CHAOS names and the like: finite, the question is fine
        return question
    if zt.cuts:
        cut = zt.find_cut(qname)
        if cut is not None and not (qname == cut and kind[:2] == _DS):
            return REFERRAL + cut
    owner = qname
    if qname not in zt.names:
        owner = Answerer.wildcard(zt, qname) or qname
    return EMPTY + owner if empty else owner + kind
