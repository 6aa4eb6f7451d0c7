"""rmtool.measure.rmm."""
