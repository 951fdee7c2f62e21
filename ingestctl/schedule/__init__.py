"""Pure schedule logic for configured imports: parsing, triggers, crontab lines, misfires, pings.

The scheduler daemon builds on these; nothing here starts threads, opens the store or sleeps.
"""
