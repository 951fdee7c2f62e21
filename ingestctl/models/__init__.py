"""Plain data shared by the store and the domain: jobs, alerts and status rows."""
