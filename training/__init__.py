"""Training package: from a customer CSV to a verified PMML targeting model. It runs in a
virtualenv of its own (apache-beam, a PyFlink dependency, pins an old dill that forces an
ancient sklearn2pmml); the data contract it shares with the job is contract/."""
