"""ISO 3166-1 alpha-2 country codes, ISO 3166-2 subdivision codes (from pycountry) and the
continent codes GeoIP databases use."""

from __future__ import annotations

import functools

CONTINENTS = frozenset({"EU", "NA", "SA", "AS", "AF", "OC", "AN"})

_TABLE = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK EU AP
"""
COUNTRIES = frozenset(_TABLE.split())


# Subdivision codes GeoIP databases give that ISO 3166-2 no longer lists (codes renamed
# since: PL-DS is PL-02 now, ZA-GT is ZA-GP...) or never did (Hong Kong districts): every
# such code in GeoLite2-City of 2018-07 (the demo database), so a zone written for an older
# database still checks. 225 of its 3,306 first-level codes.
_FORMER_TABLE = """
    AS-E BM-DS BM-GC BM-HA BM-HC BM-PB BM-PG BM-SA BM-SH BM-SM BM-WA CK-AI CK-AT CK-MG CK-MK
    CK-MT CK-PA CK-PE CK-PU CK-RK CK-RR EE-44 EE-49 EE-51 EE-57 EE-59 EE-65 EE-67 EE-70
    EE-78 EE-82 EE-86 FR-COR GH-BA GT-AV GT-BV GT-CM GT-CQ GT-ES GT-GU GT-HU GT-JA GT-JU
    GT-PE GT-PR GT-QC GT-QZ GT-RE GT-SA GT-SM GT-SO GT-SR GT-SU GT-TO GT-ZA HK-HCW HK-HEA
    HK-HSO HK-HWC HK-KKC HK-KKT HK-KSS HK-KWT HK-KYT HK-NIS HK-NKT HK-NNO HK-NSK HK-NST
    HK-NTM HK-NTP HK-NTW HK-NYL IN-CT IN-DD IN-DN IN-OR IN-TG IN-UT IR-31 IR-32 KZ-AKM
    KZ-AKT KZ-ALA KZ-ALM KZ-AST KZ-ATY KZ-BAY KZ-KAR KZ-KUS KZ-KZY KZ-MAN KZ-PAV KZ-SEV
    KZ-VOS KZ-YUZ KZ-ZAP KZ-ZHA LV-003 LV-005 LV-010 LV-012 LV-013 LV-017 LV-018 LV-019
    LV-020 LV-024 LV-029 LV-031 LV-032 LV-034 LV-035 LV-037 LV-039 LV-044 LV-045 LV-046
    LV-048 LV-051 LV-053 LV-055 LV-060 LV-061 LV-063 LV-069 LV-074 LV-075 LV-076 LV-079
    LV-081 LV-084 LV-086 LV-092 LV-093 LV-095 LV-107 LV-VMR MK-03 MK-04 MK-05 MK-06 MK-10
    MK-12 MK-13 MK-14 MK-18 MK-19 MK-21 MK-25 MK-27 MK-36 MK-38 MK-40 MK-42 MK-44 MK-47
    MK-52 MK-54 MK-56 MK-58 MK-62 MK-63 MK-64 MK-66 MK-69 MK-70 MK-71 MK-72 MK-76 MP-R MP-S
    NC-L NC-N NC-S NO-01 NO-02 NO-04 NO-05 NO-06 NO-07 NO-08 NO-09 NO-10 NO-12 NO-14 NO-19
    NO-20 NP-1 NP-2 NP-3 NP-4 NP-5 PF-I PF-M PF-S PF-T PF-V PK-TA PL-DS PL-KP PL-LB PL-LD
    PL-LU PL-MA PL-MZ PL-OP PL-PD PL-PK PL-PM PL-SK PL-SL PL-WN PL-WP PL-ZP PM-P SJ-21 SJ-22
    ST-S TK-A TK-F TK-N VI-C ZA-GT ZA-NL
"""
_FORMER = frozenset(_FORMER_TABLE.split())


@functools.cache
def _subdivisions() -> frozenset[str]:
    """Every ISO 3166-2 code ("US-CA", "GB-ENG", "FR-75C"), from the pycountry package: the
    standard's ~5,000 codes change a few times a year and pycountry follows each ISO
    newsletter, which a table of our own would not; plus _FORMER. Loaded once, on the first
    zone that uses a subdivision selector (about 0.1 s)."""
    import pycountry

    return frozenset(sub.code for sub in pycountry.subdivisions) | _FORMER


def is_subdivision(code: str) -> bool:
    """True for a known ISO 3166-2 code (upper case), the form GeoIP databases give."""
    return code in _subdivisions()


def subdivision_examples(country: str, n: int = 3) -> list[str]:
    """A few real codes of `country`, for an error message."""
    return sorted(c for c in _subdivisions() if c.startswith(country + "-"))[:n]
