"""Data-quality rules run after every import.

Importers fill a summary while they stream (the ``*StatsAccumulator`` classes of
``sitemap_stats``, ``merchant_stats`` and ``search_console_stats``); after a source succeeds,
``gate.check_quality`` evaluates the rules (``rules.evaluate``) with the import's
``settings.QualityPolicy``, stores the violations with the job, and fails the import when
``outcome.should_fail`` says so. The rule table is ``catalog``; docs/guide/quality.md lists it.
Import the submodules directly: this package imports nothing.
"""
