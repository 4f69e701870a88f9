"""GeoIP: the locator over MaxMind databases and every ECS rule."""
