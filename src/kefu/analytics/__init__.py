"""Analytics: rollups of the stored events, metrics, knowledge gaps, hot topics."""
