"""Credentials and signatures, on the standard library only."""
