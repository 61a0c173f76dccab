"""Placement settings and learners' pre-assignment AI-use declarations."""
