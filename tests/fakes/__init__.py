"""Local stand-ins for outside services (Slack), reached over real HTTP on 127.0.0.1."""
