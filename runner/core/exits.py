"""Every exit code of `ft-runner`, in one place (README, docs/results.md)."""

PASS = 0  # every scenario passed or met an expected limitation
FAIL = 1  # a scenario failed or could not be measured
USER_ERROR = 2  # bad input or a missing prerequisite: one line naming the fix
UPLOAD_INCOMPLETE = 3  # the tests are done (and passed), but the result tree is not completely in the store
INTERRUPTED = 130  # SIGINT/SIGTERM: the deployment was torn down, what was measured is kept
