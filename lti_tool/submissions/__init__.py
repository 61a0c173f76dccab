"""One-time submission keys: every form that creates a record carries a fresh key, and the
first request that claims it is the only one that acts (double clicks, resent forms and
parallel posts make one record and one email; the repeats get the first one's answer)."""
