"""The KIS Open API adapter: endpoints, rate limiting, the REST client, OAuth calls."""
