"""rmtool.cli."""
