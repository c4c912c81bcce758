"""One module per `pcr` command; each function returns the process exit code."""

from pathlib import Path

# Where the desired state is when no option says otherwise.
DEFAULT_DESIRED = Path("desired-state")

# Exit codes of the CLI contract (see README): 2 only ever means "changes" with
# --detailed-exitcode, so usage errors are mapped to 1 by the CLI as well.
OK = 0
ERROR = 1
CHANGES = 2
