"""Alerts and metrics: what needs a human goes out through notification channels (Telegram,
webhook, email); everything else is exported at `/metrics` for Prometheus.

Alerts flow: a committed BotEvent reaches `dispatch` (called by bots.dashboard.broadcast), which
hands it to a background thread of its process; that thread matches it against the cached
routes of the enabled channels and, on a match, enqueues `notify_event_task` on the default
queue. The task maps the event to an alert (`rules`), renders it (`messages`) and sends it per
channel (`sender`, `transports`) with retries and a bounded backoff, a per-channel rate limit and
coalescing of bursts (`coalesce`). The runner never waits on any of it.

Telegram commands come in by long polling (`telegram`, `commands`, the `telegram_poll`
management command). Metrics: `metrics` (a collector reading the database and Redis at scrape
time) and `views` (the `/metrics` endpoint).
"""
