"""claudio-ci: keep parallel ML worktrees from colliding, and keep their cost in view."""

__version__ = "0.1.0"
