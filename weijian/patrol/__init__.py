"""Grid patrol: patrol records, visiting order, printed patrol maps."""
