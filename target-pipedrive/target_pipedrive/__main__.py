"""`python -m target_pipedrive` runs the target (same as the `target-pipedrive` script)."""

from target_pipedrive.target import TargetPipedrive

TargetPipedrive.cli()
