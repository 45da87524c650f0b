# mega_10 with every security default off: what secure headers, CSRF and the rate limit cost.
config = {"helmet": False, "csrf": False, "rate_limit": False}
