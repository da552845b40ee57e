"""Password hashing with argon2id (argon2-cffi)."""

from pulse_adapters.argon2.passwords import Argon2PasswordHasher

__all__ = ["Argon2PasswordHasher"]
