"""dft stage."""
