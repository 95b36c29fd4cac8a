"""`mlops`: the command line over the platform, for the local cloud or a deployed stack."""
