"""Local stand-ins for production infrastructure: a Kafka-protocol broker (tansu), a
standalone Flink cluster from the PyFlink wheel, and tools to feed and watch sessions."""
