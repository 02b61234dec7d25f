"""Security plumbing: rate limits, spam checks, sign-in throttling, the network guard, headers."""
