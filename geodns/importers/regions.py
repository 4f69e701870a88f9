"""Where each cloud region is (the city of its data centres, to a tenth of a degree or so).

The `latency` policy ranks pools by the distance from the client's GeoIP location, so an
imported latency set needs its region on the map: Route 53 latency and geoproximity records
name an AWS region, Cloud DNS geo items a Google Cloud region, Azure Performance endpoints
an Azure region. Places from the providers' own region pages (city or metro area).
"""

from __future__ import annotations

AWS: dict[str, tuple[float, float]] = {
    "us-east-1": (38.95, -77.45),  # N. Virginia
    "us-east-2": (39.96, -83.0),  # Ohio
    "us-west-1": (37.35, -121.96),  # N. California
    "us-west-2": (45.84, -119.7),  # Oregon
    "ca-central-1": (45.5, -73.57),  # Montreal
    "ca-west-1": (51.05, -114.07),  # Calgary
    "mx-central-1": (20.59, -100.39),  # Queretaro
    "sa-east-1": (-23.55, -46.63),  # Sao Paulo
    "eu-west-1": (53.35, -6.26),  # Dublin
    "eu-west-2": (51.51, -0.13),  # London
    "eu-west-3": (48.86, 2.35),  # Paris
    "eu-central-1": (50.11, 8.68),  # Frankfurt
    "eu-central-2": (47.37, 8.54),  # Zurich
    "eu-north-1": (59.33, 18.07),  # Stockholm
    "eu-south-1": (45.46, 9.19),  # Milan
    "eu-south-2": (41.65, -0.88),  # Aragon
    "il-central-1": (32.09, 34.78),  # Tel Aviv
    "me-south-1": (26.07, 50.56),  # Bahrain
    "me-central-1": (24.45, 54.38),  # UAE
    "af-south-1": (-33.92, 18.42),  # Cape Town
    "ap-south-1": (19.08, 72.88),  # Mumbai
    "ap-south-2": (17.39, 78.49),  # Hyderabad
    "ap-east-1": (22.32, 114.17),  # Hong Kong
    "ap-northeast-1": (35.68, 139.69),  # Tokyo
    "ap-northeast-2": (37.57, 126.98),  # Seoul
    "ap-northeast-3": (34.69, 135.5),  # Osaka
    "ap-southeast-1": (1.35, 103.82),  # Singapore
    "ap-southeast-2": (-33.87, 151.21),  # Sydney
    "ap-southeast-3": (-6.2, 106.85),  # Jakarta
    "ap-southeast-4": (-37.81, 144.96),  # Melbourne
    "ap-southeast-5": (3.14, 101.69),  # Malaysia
    "ap-southeast-7": (13.75, 100.5),  # Thailand
    "cn-north-1": (39.9, 116.4),  # Beijing
    "cn-northwest-1": (37.5, 105.19),  # Ningxia
    "us-gov-west-1": (45.6, -122.68),  # GovCloud (US-West)
    "us-gov-east-1": (39.96, -83.0),  # GovCloud (US-East)
}

GCP: dict[str, tuple[float, float]] = {
    "us-central1": (41.26, -95.86),  # Council Bluffs, Iowa
    "us-east1": (33.2, -80.01),  # Moncks Corner, South Carolina
    "us-east4": (39.04, -77.49),  # Ashburn, Virginia
    "us-east5": (39.96, -83.0),  # Columbus, Ohio
    "us-south1": (32.78, -96.8),  # Dallas
    "us-west1": (45.6, -121.18),  # The Dalles, Oregon
    "us-west2": (34.05, -118.24),  # Los Angeles
    "us-west3": (40.76, -111.89),  # Salt Lake City
    "us-west4": (36.17, -115.14),  # Las Vegas
    "northamerica-northeast1": (45.5, -73.57),  # Montreal
    "northamerica-northeast2": (43.65, -79.38),  # Toronto
    "northamerica-south1": (20.59, -100.39),  # Queretaro
    "southamerica-east1": (-23.55, -46.63),  # Sao Paulo
    "southamerica-west1": (-33.45, -70.67),  # Santiago
    "europe-west1": (50.47, 3.87),  # St. Ghislain, Belgium
    "europe-west2": (51.51, -0.13),  # London
    "europe-west3": (50.11, 8.68),  # Frankfurt
    "europe-west4": (53.44, 6.84),  # Eemshaven, Netherlands
    "europe-west6": (47.37, 8.54),  # Zurich
    "europe-west8": (45.46, 9.19),  # Milan
    "europe-west9": (48.86, 2.35),  # Paris
    "europe-west10": (52.52, 13.4),  # Berlin
    "europe-west12": (45.07, 7.69),  # Turin
    "europe-north1": (60.57, 27.19),  # Hamina, Finland
    "europe-north2": (59.33, 18.07),  # Stockholm
    "europe-central2": (52.23, 21.01),  # Warsaw
    "europe-southwest1": (40.42, -3.7),  # Madrid
    "me-west1": (32.09, 34.78),  # Tel Aviv
    "me-central1": (25.29, 51.53),  # Doha
    "me-central2": (26.43, 50.1),  # Dammam
    "africa-south1": (-26.2, 28.05),  # Johannesburg
    "asia-east1": (24.05, 120.52),  # Changhua County, Taiwan
    "asia-east2": (22.32, 114.17),  # Hong Kong
    "asia-northeast1": (35.68, 139.69),  # Tokyo
    "asia-northeast2": (34.69, 135.5),  # Osaka
    "asia-northeast3": (37.57, 126.98),  # Seoul
    "asia-south1": (19.08, 72.88),  # Mumbai
    "asia-south2": (28.61, 77.21),  # Delhi
    "asia-southeast1": (1.35, 103.82),  # Jurong West, Singapore
    "asia-southeast2": (-6.2, 106.85),  # Jakarta
    "australia-southeast1": (-33.87, 151.21),  # Sydney
    "australia-southeast2": (-37.81, 144.96),  # Melbourne
}

AZURE: dict[str, tuple[float, float]] = {
    "eastus": (37.37, -79.82),  # Virginia
    "eastus2": (36.67, -78.39),  # Virginia
    "centralus": (41.59, -93.6),  # Iowa
    "northcentralus": (41.88, -87.63),  # Illinois
    "southcentralus": (29.42, -98.49),  # Texas
    "westcentralus": (41.14, -104.82),  # Wyoming
    "westus": (37.78, -122.42),  # California
    "westus2": (47.23, -119.85),  # Washington
    "westus3": (33.45, -112.07),  # Phoenix
    "canadacentral": (43.65, -79.38),  # Toronto
    "canadaeast": (46.82, -71.22),  # Quebec City
    "mexicocentral": (20.59, -100.39),  # Queretaro
    "brazilsouth": (-23.55, -46.63),  # Sao Paulo State
    "northeurope": (53.35, -6.26),  # Ireland
    "westeurope": (52.37, 4.9),  # Netherlands
    "uksouth": (50.94, -0.8),  # London
    "ukwest": (53.43, -3.08),  # Cardiff
    "francecentral": (46.38, 2.37),  # Paris
    "germanywestcentral": (50.11, 8.68),  # Frankfurt
    "switzerlandnorth": (47.45, 8.56),  # Zurich
    "norwayeast": (59.91, 10.75),  # Oslo
    "swedencentral": (60.67, 17.14),  # Gavle
    "polandcentral": (52.23, 21.01),  # Warsaw
    "italynorth": (45.46, 9.19),  # Milan
    "spaincentral": (40.42, -3.7),  # Madrid
    "israelcentral": (32.09, 34.78),  # Israel
    "qatarcentral": (25.29, 51.53),  # Doha
    "uaenorth": (25.27, 55.3),  # Dubai
    "southafricanorth": (-25.73, 28.22),  # Johannesburg
    "centralindia": (18.58, 73.92),  # Pune
    "southindia": (12.98, 80.16),  # Chennai
    "westindia": (19.09, 72.87),  # Mumbai
    "eastasia": (22.27, 114.19),  # Hong Kong
    "southeastasia": (1.28, 103.83),  # Singapore
    "japaneast": (35.68, 139.77),  # Tokyo
    "japanwest": (34.69, 135.5),  # Osaka
    "koreacentral": (37.57, 126.98),  # Seoul
    "koreasouth": (35.18, 129.08),  # Busan
    "australiaeast": (-33.86, 151.21),  # New South Wales
    "australiasoutheast": (-37.84, 144.95),  # Victoria
    "australiacentral": (-35.34, 149.1),  # Canberra
}


def location(table: dict[str, tuple[float, float]], region: str) -> dict[str, float] | None:
    """A pool's `location:` for a region name ("West Europe" and "westeurope" alike)."""
    found = table.get(region.lower().replace(" ", ""))
    return None if found is None else {"lat": found[0], "lon": found[1]}
