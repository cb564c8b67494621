"""The data contract shared by the job, the training package and the tools: the fields of
the two enrichment topics and the model's inputs (schema.py), and a synthetic population
drawn with that schema (population.py). Only numpy and pandas, so both virtualenvs
import it."""
