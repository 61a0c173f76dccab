"""Privacy under UK GDPR: the retention schedule and legal holds, disposal, subject-access
exports and erasure requests."""
