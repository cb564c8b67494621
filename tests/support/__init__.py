"""What several test packages share: fixture files, helpers to build and check traffic,
the clusters and processes tests drive. Imported from here, never from a conftest."""
