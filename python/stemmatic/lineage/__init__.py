"""Dataset lineage: build, check, query and export the family tree of training data."""
