"""Pages open to anyone: the tool's home page and health check."""
