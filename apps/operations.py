"""`panel serve apps/operations.py` entry point of the Operations page (lake from HHS_LAKE_URI)."""

from hhs_platform.dashboards.operations import TITLE, page

page().servable(title=TITLE)
