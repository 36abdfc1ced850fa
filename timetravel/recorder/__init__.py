"""The writers: cluster and git recorders, imports of event and audit files, pipeline runs.

Each recorder takes what a source observed and writes it through the store; it never
writes to the cluster or the repository.
"""
