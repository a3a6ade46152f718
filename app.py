"""Seller CRM: every route and event handler of the service, each delegating to chalicelib/."""

from chalice import Chalice

from chalicelib.api import customers, handlers, service
from chalicelib.api.middleware import contract
from chalicelib.settings import settings

app = Chalice(app_name="seller-crm")
app.register_middleware(contract, "http")

app.register_blueprint(service.bp)
app.register_blueprint(customers.bp)


@app.on_sqs_message(queue=settings().queue_name("events"), batch_size=10)
def on_events(event):
    """Ingested events -> tag rules, plan engagement, automated triggers."""
    from chalicelib.services import reactions

    return handlers.process_sqs(event, reactions.handle_message)
