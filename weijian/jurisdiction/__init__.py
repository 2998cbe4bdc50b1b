"""Jurisdiction: rules as data, the point-in-polygon engine, transfer decisions (issue: engine)."""
