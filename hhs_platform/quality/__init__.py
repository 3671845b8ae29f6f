"""Data quality: table contracts, quarantine of failing rows."""
