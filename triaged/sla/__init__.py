"""Service-level time: the business calendar and the promises computed on it."""
