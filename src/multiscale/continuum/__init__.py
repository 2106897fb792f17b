"""continuum stage."""
