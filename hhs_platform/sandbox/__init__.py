"""Simulated Bluesky and YouTube APIs over a deterministic world with exportable ground truth."""

from __future__ import annotations

from hhs_platform.sandbox.clock import DEFAULT_EPOCH, SimClock
from hhs_platform.sandbox.context import SandboxConfig, SandboxContext, Stats
from hhs_platform.sandbox.faults import FaultDecision, FaultProfile
from hhs_platform.sandbox.server import (
    PLATFORM_APPS,
    Sandbox,
    SandboxThread,
    build_world,
    create_app,
    main,
    run_sandbox,
    serve,
    start_in_thread,
)
from hhs_platform.sandbox.world import (
    ACCOUNTS_SCHEMA,
    DELETED_SCHEMA,
    POSTS_SCHEMA,
    World,
    round_3_significant,
    truth_from_json,
    truth_to_json,
)

__all__ = [
    "ACCOUNTS_SCHEMA",
    "DEFAULT_EPOCH",
    "DELETED_SCHEMA",
    "PLATFORM_APPS",
    "POSTS_SCHEMA",
    "FaultDecision",
    "FaultProfile",
    "Sandbox",
    "SandboxConfig",
    "SandboxContext",
    "SandboxThread",
    "SimClock",
    "Stats",
    "World",
    "build_world",
    "create_app",
    "main",
    "round_3_significant",
    "run_sandbox",
    "serve",
    "start_in_thread",
    "truth_from_json",
    "truth_to_json",
]
