"""The durable outbox: calls to Moodle and emails, stored with the change that causes them
and delivered (in order, with retries) by ``flask worker`` or right after the request."""
