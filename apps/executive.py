"""`panel serve apps/*.py` entry point of the executive page (lake from HHS_LAKE_URI)."""

from hhs_platform.dashboards.executive import TITLE, executive_page

executive_page().servable(title=TITLE)
