"""silocompro-targeting streaming job.

Importing the package must stay free of PyFlink: the training virtualenv imports
``contract.schema`` so that training and serving share one message contract.
"""
