"""Learners' requests to use a specific AI tool, and the ALS team's decisions on them."""
