"""HTTP edge: request/response models, auth, error mapping, OpenAPI."""
