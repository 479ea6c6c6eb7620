"""Accounts: who bids. Users, hashed passwords (argon2id), opaque tokens, throttles."""
