"""Seller CRM: every route and event handler of the service, each delegating to chalicelib/."""

from chalice import Chalice, Rate

from chalicelib import batch, metrics
from chalicelib.api import (
    billing,
    console,
    conversations,
    customers,
    exports,
    followups,
    health,
    imports,
    inbox,
    overview,
    performance,
    plans,
    products,
    segments,
    shop_settings,
    tag_rules,
    tags,
    vouchers,
)
from chalicelib.api.common import now
from chalicelib.api.middleware import contract
from chalicelib.settings import settings

# Chalice's own logger ("seller-crm") is the service's Powertools logger (chalicelib/logs.py),
# so Chalice must not give it a plain-text handler and an ERROR level of its own.
app = Chalice(app_name="seller-crm", configure_logs=False)
app.register_middleware(contract, "http")
app.register_middleware(metrics.flush_after, "all")   # EMF metrics written per invocation

# One blueprint per resource, named after its URL (/v1/<name>); health serves /health and
# /openapi.json, inbox the local chat channel's /v1/customers/{id}/inbox, console the seller
# console's page (/console) and the local stage's /v1/local/demo-token.
for blueprint in (health, customers, segments, tags, imports, tag_rules, products, vouchers,
                  shop_settings, plans, performance, inbox, billing, followups,
                  conversations, exports, overview, console):
    app.register_blueprint(blueprint.bp)
# Uploads arrive as raw bytes (base64 through API Gateway), so a file that is not UTF-8 is
# refused by the importer with a 400 instead of being mangled on the way in.
app.api.binary_types.extend(imports.CSV_TYPES)


# Each handler imports what it runs inside: every function of the stack imports this whole
# file, and the services and delivery load PynamoDB and boto3 (docs/architecture.md, "Layers").
@app.on_sqs_message(queue=settings().queue_name("events"), batch_size=10)
def on_events(event):
    """Ingested events -> tag rules, plan engagement, automated triggers."""
    from chalicelib.services import reactions

    return batch.process_sqs(event, reactions.handle_message)


@app.schedule(Rate(1, unit=Rate.DAYS))
def daily_tag_rules(event):
    """Time-based tag rules (churn risk, new-customer expiry): one daily-queue message per
    seller that has one, so no seller waits for another."""
    from chalicelib.services import tag_rules as tag_rule_service

    return tag_rule_service.queue_daily(now())


@app.on_sqs_message(queue=settings().queue_name("daily"), batch_size=1)
def on_daily(event):
    """One seller's daily tag rules for one day, at most once per seller per day."""
    from chalicelib.services import tag_rules as tag_rule_service

    return batch.process_sqs(event, tag_rule_service.handle_daily_message)


@app.schedule(Rate(5, unit=Rate.MINUTES))
def sweep_stuck_plans(event):
    """Plans left in_progress by a crash before their dispatch message left: dispatch again."""
    from chalicelib.delivery import sweeper

    return sweeper.sweep(now())


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_due_messages(event):
    """Automated plans: send every occurrence whose due time has come (docs/automated-plans.md)."""
    from chalicelib.delivery import timers

    return timers.sweep(now())


@app.on_sqs_message(queue=settings().queue_name("dispatch"), batch_size=1)
def on_dispatch(event):
    """A plan's send time came (send now, or its schedule fired): snapshot -> chunks."""
    from chalicelib.delivery import dispatch

    return batch.process_sqs(event, dispatch.handle_message)


@app.on_sqs_message(queue=settings().queue_name("delivery"), batch_size=10)
def on_delivery(event):
    """Chunks of recipients: claim, render, send, record (partial batch failures); stops
    short of the Lambda timeout and hands the rest back (event.context is Lambda's)."""
    from chalicelib.delivery import worker

    return batch.process_sqs(event, worker.for_invocation(event.context))


# The stream's ARN exists only once the table does: infra/build.py points the mapping at
# the table's StreamArn (it checks this names the customers table); locally the stream
# poller finds it (chalicelib/local/pollers.py).
@app.on_dynamodb_record(stream_arn=settings().table_name("customers"), batch_size=500,
                        starting_position="TRIM_HORIZON", maximum_batching_window_in_seconds=1)
def on_customer_changes(event):
    """Customer writes -> one delta per seller into the columnar snapshot (docs/segments.md,
    "Snapshot and read-your-writes"); the whole batch comes back if any seller failed."""
    from chalicelib import snapshots

    return snapshots.handle_stream(event)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def snapshot_ticks(event):
    """Ticks into the pks of the sellers whose latest snapshot change is past the read
    margin: their marks move on, and reads stop re-reading those customers."""
    from chalicelib import snapshots

    return {"ticked": snapshots.tick_due()}


@app.on_sqs_message(queue=settings().queue_name("snapshot-failures"), batch_size=1)
def on_snapshot_failures(event):
    """A stream batch Lambda gave up on: rebuild the snapshots of the sellers it held."""
    from chalicelib import snapshots

    return batch.process_sqs(event, snapshots.handle_failure_message)


@app.on_sqs_message(queue=settings().queue_name("metrics"), batch_size=10)
def on_metrics(event):
    """Counter facts folded into plan_stats, one guarded update per plan part per batch."""
    from chalicelib.delivery import counters

    return counters.handle_batch(event)


@app.on_sqs_message(queue=settings().queue_name("exports"), batch_size=1)
def on_exports(event):
    """A segment's audience export too large for its POST: write the hashed-phone CSV."""
    from chalicelib.services import exports as export_service

    return batch.process_sqs(event, export_service.handle_message)
