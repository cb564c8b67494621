"""Training package: from a customer CSV to a verified PMML targeting model.

Kept free of heavy imports so that ``training.synthetic`` can be imported from the
streaming job's virtualenv, which has numpy and pandas but no scikit-learn or xgboost.
"""
