"""The ERP simulator (erp-integration.md §2): a SOAP 1.1 server for Dynamics NAV / Business Central page web
services on lxml, with NAV-shaped WSDLs and faults, its own SQLite state, posting, payments and fault injection.

Entry points: `billing.erp_sim.app.ErpSimulator` (in-process, threads or sockets) and ``billing erp-sim`` (CLI).
"""
