"""`panel serve apps/executive.py` entry point of the Executive page (lake from HHS_LAKE_URI)."""

from hhs_platform.dashboards.executive import TITLE, page

page().servable(title=TITLE)
