"""`claudio-ci smoke-test`: run the training command on CPU under limits, then check what it wrote.

`plan` turns the configuration into experiments to run, `runner` runs one command in its
own process group (streaming its output, enforcing the timeout and the memory limit on the
whole process tree), `probe` loads the checkpoint with the project's own interpreter,
`session` puts one experiment through all of it, and `report` renders the results. The
checks themselves are plain functions in `claudio_ci.smoke.rules`.
"""
