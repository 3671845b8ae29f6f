"""`panel serve apps/trends.py` entry point of the Trends page (lake from HHS_LAKE_URI)."""

from hhs_platform.dashboards.trends import TITLE, page

page().servable(title=TITLE)
