"""divergence stage."""
