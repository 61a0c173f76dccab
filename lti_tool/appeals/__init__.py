"""Pages for appeal reviewers (a tool-held role, granted like ALS membership)."""
