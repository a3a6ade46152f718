"""The one configuration object: stage, endpoints, table and queue names, secrets.

Nothing else in the code base reads ``os.environ``; everything asks ``settings()``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    stage: str = "local"
    jwt_secret: str = "local-dev-secret"
    region: str = Field(default="us-east-1", validation_alias="AWS_DEFAULT_REGION")
    # Where every AWS client points; unset on AWS, the moto server locally.
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    # Customers of one seller are spread over this many partitions (seller#shard)
    # so that segment evaluation can read them in parallel.
    customer_shards: int = 8
    # How long an event_id is remembered for de-duplication (late events up to 365 days).
    event_id_ttl_days: int = 400
    # Chat channel: "local" stores into the inbox table; "http" posts to messaging_endpoint.
    chat_channel: str = "local"
    messaging_endpoint: str | None = None
    # Delivery: recipients per chunk (one SQS message, one claim), how long a claim holds
    # before another worker may take the chunk over, the role the scheduler assumes.
    delivery_chunk_size: int = 250
    delivery_lease_seconds: int = 120
    # A seller's daily run holds its claim this long: more than its function's timeout
    # (300 s, .chalice/config.json) so a live run is never taken over, less than the daily
    # queue's visibility timeout so a crashed run's message finds the claim free again.
    daily_run_lease_seconds: int = 360
    messaging_timeout_seconds: float = 10.0
    scheduler_role_arn: str | None = None   # default: infra's <prefix>scheduler-to-sqs role
    account_id: str = "123456789012"
    # Operations (docs/operations.md): the service name on every log line and metric, the
    # level of the service's logger, the CloudWatch namespace of its EMF metrics.
    service: str = "seller-crm"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    metrics_namespace: str = "SellerCRM"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def prefix(self) -> str:
        return f"crm-{self.stage}-"

    def table_name(self, short: str) -> str:
        return f"{self.prefix}{short}"

    def queue_name(self, short: str) -> str:
        return f"{self.prefix}{short}"

    @property
    def scheduler_group(self) -> str:
        return f"{self.prefix}plans"

    def queue_arn(self, short: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{self.queue_name(short)}"


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
