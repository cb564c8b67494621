"""The token the end-to-end jobs are started with (random per run)."""

import uuid as uuidlib

TOKEN = "e2e-" + uuidlib.uuid4().hex
