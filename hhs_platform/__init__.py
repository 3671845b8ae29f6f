"""HHS social media data platform: collect, validate, store and show HHS agencies' public figures."""

from __future__ import annotations

__version__ = "0.1.0"
