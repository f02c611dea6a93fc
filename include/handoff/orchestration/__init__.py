"""What every DAG family shares (extract today; transform and sync next): runtime settings, the
warehouse connection, assets, deadline alerts and DAG defaults. Imports nothing from the
families themselves."""
