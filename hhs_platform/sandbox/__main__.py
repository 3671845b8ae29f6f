"""Run the simulated platforms: ``python -m hhs_platform.sandbox --port 8765 --seed 7``."""

from __future__ import annotations

from hhs_platform.sandbox.server import main

main()
