"""Live model monitoring: does the population the job scores still look like the one the
model was trained on, and does the score distribution still sit where the threshold was
chosen?

Pure Python (no Flink): ``profile`` bins fields the same way at training time and in the
job, ``drift`` compares a live window with the reference, ``windows`` cuts the live
stream into windows. The Flink operator lives in job/monitor.py.
"""
