"""The FastAPI application: REST, Open311 intake, tiles, auth."""
