"""Where imported data comes from: sitemaps, Google APIs, and the shared HTTP client."""
