"""Worktree bootstrap: each new worktree gets shared-data links, output directories, a Jupyter
port of its own and an env file, as the post-checkout hook runs `claudio-ci worktree setup`."""
