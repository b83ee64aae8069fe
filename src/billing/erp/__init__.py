"""The ERP integration: gateway interface, SOAP client (zeep), push (exactly-once outbox) and, later, pull."""
