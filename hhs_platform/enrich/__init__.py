"""Enrichment of silver posts: text features, health topics, geography and campaign links.

``enrich_posts`` fills ``silver/post_features`` and ``link_campaigns`` fills
``silver/campaign_items``, both incrementally; docs/enrichment.md describes every feature.
"""

from hhs_platform.enrich.campaigns import link_campaigns, link_posts
from hhs_platform.enrich.features import enrich_posts, features_version, post_features
from hhs_platform.enrich.topics import Taxonomy, load_taxonomy

__all__ = [
    "Taxonomy",
    "enrich_posts",
    "features_version",
    "link_campaigns",
    "link_posts",
    "load_taxonomy",
    "post_features",
]
