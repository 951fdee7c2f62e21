"""Alerts: events turned into alerts (``dispatch``), the outbox with its dedup ``policy``,
renderers, the email, webhook and log channels, and cron-monitor ``pings``.

Import the submodules directly: this package imports nothing, so commands that raise no alert
never load a channel.
"""
