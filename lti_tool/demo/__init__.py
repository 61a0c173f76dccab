"""The local Moodle-like demo platform (off unless enabled)."""
