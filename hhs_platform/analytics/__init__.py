"""Analytics over gold: explained anomalies and forecasts with back-tested intervals.

``build_anomalies`` writes gold/anomalies; ``build_forecasts`` writes gold/forecasts and
gold/forecast_backtest. Both read gold/daily_account_metrics, so they run after ``build_gold``.
"""

from hhs_platform.analytics.anomalies import build_anomalies, changed_since, detect_anomalies
from hhs_platform.analytics.forecasts import build_forecasts, forecast_frames, forecast_series

__all__ = [
    "build_anomalies",
    "build_forecasts",
    "changed_since",
    "detect_anomalies",
    "forecast_frames",
    "forecast_series",
]
