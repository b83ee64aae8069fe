"""Background work: the durable work queue, in-process workers and (later) the daemon's scheduled jobs."""
