"""rmtool.eventlog."""
