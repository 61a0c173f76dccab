"""The Learner AI Usage Policy as versioned data."""
