"""The one configuration object: stage, endpoints, table and queue names, secrets.

Nothing else in the code base reads ``os.environ``; everything asks ``settings()``.

Only the offline stages (``local``; ``test`` and ``bench`` for the tests and benchmarks) run
on the local defaults. Any other stage, and any stage on Lambda, refuses to start (a
``ValueError`` at cold start, so the import of ``app`` fails and no request is served)
without a real JWT secret, without the ARNs the template passes in, or with the chat channel
that stores messages nowhere. docs/deploy.md has the reasons.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Stages that only ever run against moto on a developer machine or CI (the local stack, the
# test suite, the benchmarks). Every other stage is a deployment, and so is anything on Lambda.
OFFLINE_STAGES = ("local", "test", "bench")
# The secret the offline stages sign and check tokens with; never accepted elsewhere.
LOCAL_JWT_SECRET = "local-dev-secret"
# HS256 keys shorter than the hash (32 bytes) are weak (RFC 7518 §3.2; PyJWT warns too).
MIN_JWT_SECRET_LENGTH = 32
# The voucher-code HMAC key of the offline stages. Deployments derive theirs from the JWT
# secret (chalicelib.store.secrets.voucher_key) unless CRM_VOUCHER_SECRET names another.
LOCAL_VOUCHER_SECRET = "local-voucher-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    stage: str = "local"
    # The JWT secret itself (offline stages default it to LOCAL_JWT_SECRET) or, on AWS, the
    # name of the SSM SecureString parameter holding it, read once per process by
    # chalicelib.store.secrets. Exactly one of the two outside the offline stages.
    jwt_secret: str | None = None
    jwt_secret_parameter: str | None = None
    # Set by the Lambda runtime on AWS, by the local stack and the tests offline.
    region: str | None = Field(default=None, validation_alias="AWS_DEFAULT_REGION")
    # Where every AWS client points; unset on AWS, the moto server locally.
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    # Set by the Lambda runtime: an offline stage, or packaging, found on Lambda refuses to start.
    lambda_function_name: str | None = Field(default=None, validation_alias="AWS_LAMBDA_FUNCTION_NAME")
    # Set by `make package` only: the process builds the template (infra.build, chalice
    # package import the app for its names) and serves nothing, so the checks below wait for
    # the deployed functions.
    packaging: bool = False
    # Customers of one seller are spread over this many partitions (seller#shard)
    # so that segment evaluation can read them in parallel.
    customer_shards: int = 8
    # How long an event_id is remembered for de-duplication (late events up to 365 days).
    event_id_ttl_days: int = 400
    # Chat channel: "local" stores into the inbox table; "http" posts to messaging_endpoint.
    chat_channel: str = "local"
    messaging_endpoint: str | None = None
    # Key of the HMAC that derives voucher codes. Offline stages default it; a deployment may
    # set it (never to the local default), else the key is derived from the JWT secret.
    voucher_secret: str | None = None
    # Delivery: recipients per chunk (one SQS message, one claim), how long a claim holds
    # before another worker may take the chunk over.
    delivery_chunk_size: int = 250
    delivery_lease_seconds: int = 120
    # Automated plans: conditional writes (the sweep's claims and finishes, the trigger's
    # creations) in flight at once per call (store/transact.write_each); 1 = one at a time.
    timer_sweep_workers: int = Field(default=8, ge=1, le=32)
    # A seller's daily run holds its claim this long: more than its function's timeout
    # (300 s, .chalice/config.json) so a live run is never taken over, less than the daily
    # queue's visibility timeout so a crashed run's message finds the claim free again.
    daily_run_lease_seconds: int = 360
    messaging_timeout_seconds: float = 10.0
    # SMS and voice (order notices): "local" records what would be sent in the inbox table
    # (offline only); "aws" sends through AWS End User Messaging SMS and Voice. Unset: local
    # offline, aws on a deployment. The origination identities (a phone number, pool or
    # sender id ARN) go to the provider; voice needs one.
    phone_channel: Literal["local", "aws"] | None = None
    sms_origination_identity: str | None = None
    voice_origination_identity: str | None = None
    # The price list, per message in the shop's currency (three decimal places): deployment
    # configuration, read as decimal strings, never floats.
    price_sms: Decimal = Decimal("0.035")
    price_voice: Decimal = Decimal("0.200")
    # ARNs the template passes in (GetAtt); the offline stages ask moto for them instead.
    # The scheduler's target (the dispatch queue) and the role it assumes to send there.
    dispatch_queue_arn: str | None = None
    scheduler_role_arn: str | None = None
    # The S3 bucket of the per-seller columnar snapshots (docs/segments.md, "Snapshot and
    # read-your-writes"): the template creates it and passes its name (S3 names are global,
    # so CloudFormation picks it); the offline stages use ``<prefix>snapshots`` in moto.
    snapshot_bucket: str | None = None
    # Where snapshot files are cached on the function's disk (object keys never change, so a
    # file once downloaded is read from here until the manifest stops naming it).
    snapshot_cache_dir: str = "/tmp/crm-snapshots"
    # The S3 bucket of audience exports (docs/segments.md, "Audience export"): like the
    # snapshot bucket, created by the template, which passes its name; the offline stages
    # use ``<prefix>exports`` in moto. An export of at most ``export_inline_members``
    # members is written during its POST; a larger one goes through the exports queue.
    export_bucket: str | None = None
    export_inline_members: int = Field(default=2000, ge=0)
    # Operations (docs/operations.md): the service name on every log line and metric, the
    # level of the service's logger, the CloudWatch namespace of its EMF metrics.
    service: str = "seller-crm"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    metrics_namespace: str = "SellerCRM"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_to_serve_on_local_defaults(self) -> Settings:
        # AWS_LAMBDA_FUNCTION_NAME is reserved: no function configuration can unset it.
        if self.lambda_function_name and (self.offline or self.packaging):
            what = "CRM_PACKAGING" if self.packaging else f"stage '{self.stage}'"
            raise ValueError(f"{what} is for the local stack, tests and packaging only; "
                             "it refuses to run on Lambda")
        if self.phone_channel is None:
            self.phone_channel = "local" if self.offline else "aws"
        if self.offline:
            if not self.jwt_secret and not self.jwt_secret_parameter:
                self.jwt_secret = LOCAL_JWT_SECRET
            if not self.voucher_secret:
                self.voucher_secret = LOCAL_VOUCHER_SECRET
            if not self.snapshot_bucket:
                self.snapshot_bucket = f"{self.prefix}snapshots"
            if not self.export_bucket:
                self.export_bucket = f"{self.prefix}exports"
        elif not self.packaging:
            problems = self._deployment_problems()
            if problems:
                raise ValueError(f"stage '{self.stage}' refuses to serve: " + "; ".join(problems))
        return self

    def _deployment_problems(self) -> list[str]:
        problems = []
        if self.jwt_secret is not None and self.jwt_secret_parameter:
            problems.append("set CRM_JWT_SECRET or CRM_JWT_SECRET_PARAMETER, not both")
        elif self.jwt_secret is None and not self.jwt_secret_parameter:
            problems.append("no JWT secret: set CRM_JWT_SECRET_PARAMETER (an SSM SecureString "
                            "name) or CRM_JWT_SECRET")
        elif self.jwt_secret is not None:
            problems.extend(jwt_secret_problems(self.jwt_secret, "CRM_JWT_SECRET"))
        if self.voucher_secret is not None:
            if self.voucher_secret.strip() == LOCAL_VOUCHER_SECRET:
                problems.append("CRM_VOUCHER_SECRET is the local default secret")
            elif len(self.voucher_secret.encode()) < MIN_JWT_SECRET_LENGTH:
                problems.append(f"CRM_VOUCHER_SECRET is shorter than {MIN_JWT_SECRET_LENGTH} bytes")
        if self.chat_channel != "http":
            problems.append(f"CRM_CHAT_CHANNEL={self.chat_channel!r} stores messages nowhere "
                            "a customer sees; use 'http'")
        elif not (self.messaging_endpoint or "").startswith("https://"):
            problems.append("CRM_MESSAGING_ENDPOINT must be an https:// URL")
        if self.phone_channel != "aws":
            problems.append(f"CRM_PHONE_CHANNEL={self.phone_channel!r} records SMS and voice "
                            "messages nowhere a customer hears them; use 'aws'")
        for name in ("price_sms", "price_voice"):
            price = getattr(self, name)
            if not (price.is_finite() and 0 <= price <= 100 and price == price.quantize(Decimal("0.001"))):
                problems.append(f"CRM_{name.upper()} must be 0–100 with at most three decimal places")
        for name in ("dispatch_queue_arn", "scheduler_role_arn", "snapshot_bucket",
                     "export_bucket"):
            if not getattr(self, name):
                problems.append(f"CRM_{name.upper()} is not set (the template passes it)")
        return problems

    @property
    def offline(self) -> bool:
        return self.stage in OFFLINE_STAGES

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

    @property
    def scheduler_role_name(self) -> str:
        """The role the local stack creates in moto; on AWS its ARN comes from the template."""
        return f"{self.prefix}scheduler-to-sqs"


def jwt_secret_problems(secret: str, source: str) -> list[str]:
    """Why ``secret`` may not sign tokens outside the offline stages (empty: it may)."""
    if secret.strip() == LOCAL_JWT_SECRET:
        return [f"{source} is the local default secret"]
    if len(secret.encode()) < MIN_JWT_SECRET_LENGTH:
        return [f"{source} is shorter than {MIN_JWT_SECRET_LENGTH} bytes"]
    return []


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
