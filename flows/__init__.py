"""Prefect flows: orchestration only; every step calls ``hhs_platform``."""
