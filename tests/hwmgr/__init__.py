"""Hardware manager test suite."""
