"""mlip stage."""
