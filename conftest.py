"""Project-wide pytest plugins: fixtures that start the API sandboxes in-process, and a PostgreSQL server."""

pytest_plugins = ["sandbox.cliniko.testing", "sandbox.pipedrive.testing", "sandbox.postgres.testing"]
