"""Adapters that observe: the cluster (list+watch), the git repository (read), rendering
(kustomize, helm) and the files a user imports. They never write the store."""
