"""Google sources: Merchant API products and Search Console analytics, auth and quota."""
