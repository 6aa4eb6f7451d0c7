"""Token claims against reference values (``compare``) and why they differ (``explain``)."""
