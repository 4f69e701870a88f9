/* DNS COOKIE, server side (RFC 7873), server cookies as RFC 9018 makes them: exactly what
   geodns/dns/cookies.py does, for the native threads of geodns._native.

   A server cookie is 01 00 00 00 | 4-byte timestamp (big-endian) | 8 bytes of SipHash-2-4
   over client cookie | version | reserved | timestamp | client address (4 bytes for IPv4,
   16 for IPv6, an IPv4-mapped IPv6 source stays 16 bytes as Python's packed_address does),
   keyed by the 16-byte secret of config `cookies:`.

   Threads: the pure functions need nothing. A gd_cookies (the secret, the memo of the server
   cookie made for each (client cookie, client address) and the counters) is allocated ONCE
   PER WORKER PROCESS by cookies_new() and SHARED by every native thread of that worker
   (and the Python side, through geodns._native.Cookies): each memo slot has its own
   spin lock, counters are atomics. No Python API inside; call without the GIL. */
#ifndef GD_FASTCOOKIE_H
#define GD_FASTCOOKIE_H

#include <stddef.h>
#include <stdint.h>

#define GD_COOKIE_SECRET 16
#define GD_COOKIE_FRESH_FOR 1800 /* a server cookie older than this is made afresh */
#define GD_COOKIE_VALID_FOR 3600 /* a presented one older than this is invalid */
#define GD_COOKIE_AHEAD 300      /* a presented timestamp this far ahead is accepted */
#define GD_COOKIE_OPTION 28      /* our option: code 10, length 24, client 8, server 16 */
#define GD_COOKIE_SLOTS 65536    /* the memo's default size (slots; a power of two) */

/* Results, as cookies_total{result} counts them (index into cookies_counts()). */
enum { GD_COOKIE_NEW = 0, GD_COOKIE_VALID = 1, GD_COOKIE_INVALID = 2, GD_COOKIE_MALFORMED = 3 };
/* their cookies_total{result} labels, by number (geodns._native.COOKIE_RESULTS) */
#define GD_COOKIE_RESULT_NAMES                                                                     \
    {                                                                                              \
        "new", "valid", "invalid", "malformed"                                                     \
    }

/* RFC 7873 5.2.2: a COOKIE option body of 8 bytes, or 16 to 40; else FORMERR. */
int cookies_well_formed(size_t len);

/* cookies_answer() takes `now` within +-GD_COOKIE_CLOCK_MAX (clamped there: any clock
   of the next hundred billion years; Python's integers have no bound, C's do). */
#define GD_COOKIE_CLOCK_MAX ((int64_t)1 << 62)
int64_t cookies_clamp(int64_t now);

/* Seconds from timestamp ts to now in serial arithmetic (RFC 1982; negative: ahead). */
int64_t cookies_age(uint32_t ts, int64_t now);

/* The 16-byte server cookie for a client cookie and address at timestamp ts. */
void cookies_make(const uint8_t secret[GD_COOKIE_SECRET], const uint8_t client[8],
                  const uint8_t *addr, size_t addrlen, uint32_t ts, uint8_t out[16]);

/* 1 if body[8..len) is a 16-byte version-1 server cookie this secret made for body[0..8)
   and addr, aged -AHEAD..VALID_FOR at now (Unix seconds); else 0. */
int cookies_valid(const uint8_t secret[GD_COOKIE_SECRET], const uint8_t *body, size_t len,
                  const uint8_t *addr, size_t addrlen, int64_t now);

typedef struct gd_cookies gd_cookies;

/* A worker's cookie state: the secret (copied) and a memo of `slots` slots (a power of two;
   0 = GD_COOKIE_SLOTS). NULL when out of memory or slots is not a power of two. */
gd_cookies *cookies_new(const uint8_t secret[GD_COOKIE_SECRET], size_t slots);
void cookies_free(gd_cookies *c);

/* ServerCookies.option(): the COOKIE option for the reply to a query from addr (addrlen 4
   or 16, network order) carrying the COOKIE body[0..len), at now = the wall clock in whole
   seconds (Python's int(time.time())). Writes our option (code, length, client cookie,
   server cookie: GD_COOKIE_OPTION bytes) to out, and in *expires (may be NULL) the second
   from which this answer's server cookie is due to change (cookies.py's `expires`: for a
   reply memo). Returns GD_COOKIE_NEW, _VALID or _INVALID and counts it; a body that is not
   well formed returns GD_COOKIE_MALFORMED, writes nothing and counts NOTHING (the caller
   answers FORMERR, or hands the query to Python, which counts it). */
int cookies_answer(gd_cookies *c, const uint8_t *body, size_t len, const uint8_t *addr,
                   size_t addrlen, int64_t now, uint8_t out[GD_COOKIE_OPTION], int64_t *expires);

/* cookies_answer() without counting: for the Python handler, which counts into its own
   stats (cookies_total is then its counts plus cookies_counts(), the native threads'). */
int cookies_answer_uncounted(gd_cookies *c, const uint8_t *body, size_t len, const uint8_t *addr,
                             size_t addrlen, int64_t now, uint8_t out[GD_COOKIE_OPTION],
                             int64_t *expires);

/* Count one result the caller found by other means (a replayed reply: ServerCookies.replay;
   or GD_COOKIE_MALFORMED). */
void cookies_count(gd_cookies *c, int result);

/* The counters since cookies_new, indexed by result: new, valid, invalid, malformed. */
void cookies_counts(gd_cookies *c, uint64_t out[4]);

#endif
