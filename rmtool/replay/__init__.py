"""rmtool.replay."""
