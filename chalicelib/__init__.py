"""Seller CRM: the customer-relationship backend behind the seller center."""
