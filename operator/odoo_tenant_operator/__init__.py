"""odoo-tenant-operator: one OdooTenant resource in, an isolated, enforced and audited tenant out."""

__version__ = "0.1.0"
