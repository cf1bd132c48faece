"""aiohttp HTTP API: Kimisms-compatible endpoints and the versioned API."""
