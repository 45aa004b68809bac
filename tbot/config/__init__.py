"""Configuration: `.env` / `.env_bot` parsing and validation, Fernet secrets, key rotation,
bot identity and the path resolver. Nothing here knows about ledgers or brokers."""
