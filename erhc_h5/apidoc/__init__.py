"""The OpenAPI 3.0 description of the JSON APIs, served at /api/openapi.json."""
