"""target-pipedrive: a Singer target that upserts Pipedrive-shaped records into Pipedrive."""
