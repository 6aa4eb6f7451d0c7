"""rmtool.verify."""
