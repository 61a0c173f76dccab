"""Scores sent to Moodle's gradebook through the outbox."""
