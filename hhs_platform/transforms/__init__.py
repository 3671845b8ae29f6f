"""Transforms: bronze → silver (normalize) and silver → gold (daily figures)."""
