"""Conflict risk across worktrees, branches and pull requests."""
