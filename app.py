"""Seller CRM: every route and event handler of the service, each delegating to chalicelib/."""

from chalice import Chalice, Rate

from chalicelib import metrics
from chalicelib.api import catalog, customers, handlers, plans, service
from chalicelib.api import delivery as delivery_api
from chalicelib.api import segments as segments_api
from chalicelib.api import tags as tags_api
from chalicelib.api.middleware import contract
from chalicelib.settings import settings

# Chalice's own logger ("seller-crm") is the service's Powertools logger (chalicelib/logs.py),
# so Chalice must not give it a plain-text handler and an ERROR level of its own.
app = Chalice(app_name="seller-crm", configure_logs=False)
app.register_middleware(contract, "http")
app.register_middleware(metrics.flush_after, "all")   # EMF metrics written per invocation

app.register_blueprint(service.bp)
app.register_blueprint(customers.bp)
app.register_blueprint(segments_api.bp)
app.register_blueprint(catalog.bp)
app.register_blueprint(plans.bp)
app.register_blueprint(tags_api.bp)
# Uploads arrive as raw bytes (base64 through API Gateway), so a file that is not UTF-8 is
# refused by the importer with a 400 instead of being mangled on the way in.
app.api.binary_types.extend(tags_api.CSV_TYPES)
app.register_blueprint(delivery_api.bp)


@app.on_sqs_message(queue=settings().queue_name("events"), batch_size=10)
def on_events(event):
    """Ingested events -> tag rules, plan engagement, automated triggers."""
    from chalicelib.services import reactions

    return handlers.process_sqs(event, reactions.handle_message)


@app.schedule(Rate(1, unit=Rate.DAYS))
def daily_tag_rules(event):
    """Time-based tag rules (churn risk, new-customer expiry): one daily-queue message per
    seller that has one, so no seller waits for another."""
    from chalicelib.api.common import now
    from chalicelib.services import tag_rules

    return tag_rules.queue_daily(now())


@app.on_sqs_message(queue=settings().queue_name("daily"), batch_size=1)
def on_daily(event):
    """One seller's daily tag rules for one day, at most once per seller per day."""
    from chalicelib.services import tag_rules

    return handlers.process_sqs(event, tag_rules.handle_daily_message)


@app.schedule(Rate(5, unit=Rate.MINUTES))
def sweep_stuck_plans(event):
    """Plans left in_progress by a crash before their dispatch message left: dispatch again."""
    from chalicelib.api.common import now
    from chalicelib.delivery import sweeper

    return sweeper.sweep(now())


@app.on_sqs_message(queue=settings().queue_name("dispatch"), batch_size=1)
def on_dispatch(event):
    """A plan's send time came (send now, or its schedule fired): snapshot -> chunks."""
    from chalicelib.delivery import dispatch

    return handlers.process_sqs(event, dispatch.handle_message)


@app.on_sqs_message(queue=settings().queue_name("delivery"), batch_size=10)
def on_delivery(event):
    """Chunks of recipients: claim, render, send, record (partial batch failures); stops
    short of the Lambda timeout and hands the rest back (event.context is Lambda's)."""
    from chalicelib.delivery import worker

    return handlers.process_sqs(event, worker.for_invocation(event.context))


@app.on_sqs_message(queue=settings().queue_name("metrics"), batch_size=10)
def on_metrics(event):
    """Counter facts folded into plan_stats, one guarded update per plan part per batch."""
    from chalicelib.delivery import counters

    return counters.handle_batch(event)
