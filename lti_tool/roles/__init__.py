"""Roles the tool holds itself (Moodle sends nothing that tells them apart): ALS members and
granted tool administrators, per platform."""
