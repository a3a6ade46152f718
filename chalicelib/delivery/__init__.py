"""One-off plan delivery: scheduling, dispatch (audience snapshot -> chunks), workers,
channels, counters and engagement."""
