"""Project-wide pytest plugins: fixtures that start the API sandboxes in-process."""

pytest_plugins = ["sandbox.cliniko.testing", "sandbox.pipedrive.testing"]
