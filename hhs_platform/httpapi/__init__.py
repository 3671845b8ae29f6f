"""The read-only HTTP API over the lake (``/v1``), its tokens and its webhooks; ``hhs api``."""
