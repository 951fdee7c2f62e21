"""The scheduler daemon (`ingestctl scheduler`) and what `ingestctl schedule` shows.

``daemon`` (lifecycle, signals, the step loop), ``workers`` (threads, per-thread stores and
runners), ``ledger`` (missed-run ledger), ``lock`` (one scheduler per home), ``http`` (the
endpoints), ``snapshots`` (health and metrics readings), ``hooks`` (periodic work such as the
alert outbox) and ``listing`` (``schedule list`` and ``schedule crontab``). Import the
submodules directly: this package imports nothing, so light commands stay light.
"""
