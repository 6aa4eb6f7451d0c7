"""rmtool.measure.dtb."""
