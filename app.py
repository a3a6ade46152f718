"""Seller CRM: every route and event handler of the service, each delegating to chalicelib/."""

from chalice import Chalice

from chalicelib.api import customers, service
from chalicelib.api.middleware import contract

app = Chalice(app_name="seller-crm")
app.register_middleware(contract, "http")

app.register_blueprint(service.bp)
app.register_blueprint(customers.bp)
