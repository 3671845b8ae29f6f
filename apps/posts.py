"""`panel serve apps/posts.py` entry point of the Posts explorer (lake from HHS_LAKE_URI)."""

from hhs_platform.dashboards.posts import TITLE, page

page().servable(title=TITLE)
