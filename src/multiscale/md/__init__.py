"""md stage."""
