"""`make bench`: how close a migration runs to the two APIs' rate limits, and what the local machinery costs."""
