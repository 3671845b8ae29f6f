"""`panel serve apps/anomalies.py` entry point of the Anomalies page (lake from HHS_LAKE_URI)."""

from hhs_platform.dashboards.anomalies import TITLE, page

page().servable(title=TITLE)
