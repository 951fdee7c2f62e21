"""The sitemap source: ``ingestctl run sitemap URL_OR_PATH`` and configured sitemap imports.

A target may be a sitemap (urlset, index, text, RSS/Atom; gzip or not), a robots.txt, a bare
site root (``https://host/``: its robots.txt, else ``/sitemap.xml``), or a local file.
The work is done by :class:`~ingestctl.sources.sitemap.crawl.Crawl`.
"""

from __future__ import annotations

from ingestctl.jobs.contract import AttemptReport, ImportContext
from ingestctl.sources.sitemap.crawl import Crawl


class SitemapSource:
    """Imports a sitemap tree into ``sitemap_urls`` and its extension tables."""

    def run(self, ctx: ImportContext) -> AttemptReport:
        """One attempt: crawl the job's target; files done by earlier attempts are skipped."""
        return Crawl(ctx).run()


SOURCE = SitemapSource()
