"""searchkit's storage engine (being assembled)."""
