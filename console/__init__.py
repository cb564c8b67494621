"""The experiment console: configure an A/B test in the browser, get its token, watch it
run on the local platform and read the verdict (``make console``)."""
