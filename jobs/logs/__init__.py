"""What a log line is about, and what it must never show."""
