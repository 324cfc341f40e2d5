"""The only doors to the outside world: git, GitHub, the Actions environment, /proc."""
