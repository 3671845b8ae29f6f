"""Panel dashboards over the lake's gold tables; ``server.serve_dashboards`` serves them."""

from __future__ import annotations
