"""hwmgr's REST API: a FastAPI app of its own (OpenAPI at /openapi.json)."""
