"""Reports from stored rows and parsed plans: statistics, tables, exports. Never torch."""
