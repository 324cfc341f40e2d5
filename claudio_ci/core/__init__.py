"""The core: findings, codes, configuration, and what every layer needs."""
