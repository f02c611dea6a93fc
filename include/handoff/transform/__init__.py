"""dbt orchestration: the `transform` DAG runs the dbt project through astronomer-cosmos.

One module per concern:
    settings   where the project, its manifest and its docs live (environment, no I/O)
    profile    the dbt profile: the `handoff_warehouse` connection as the transformer role
    selection  what a cycle rebuilds: the raw streams that changed since the last good cycle
               (`ops.extract_runs`), recorded in `ops.transform_runs`
    producer   the cosmos WATCHER producer that runs that selection as one `dbt build`
    dag        the DAG itself (dags/transform.py is one line)
"""
