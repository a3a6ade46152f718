"""The only package that talks to DynamoDB (PynamoDB models and repositories) and AWS."""
