"""tap-cliniko: a Singer tap that reads a Cliniko account completely and incrementally."""
