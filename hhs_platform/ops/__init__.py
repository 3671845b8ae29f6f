"""Production operations: alerts (``alerts``, ``notify``) and service-level objectives."""
