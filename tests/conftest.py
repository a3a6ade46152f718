"""Shared test setup: fake AWS credentials, never a real AWS endpoint."""

import os

os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_SECURITY_TOKEN="testing", AWS_SESSION_TOKEN="testing",
                  AWS_DEFAULT_REGION="us-east-1")
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("CRM_STAGE", "test")

